"""Runs every benchmark module (benchmarks/bench_*.py), prints a table per area and writes
benchmarks/results/<area>.json.

Each module defines `run(quick: bool) -> list[dict]`: one row per measurement, the same
keys in every row of a module. `python -m benchmarks.run [AREA ...] [--quick]`. An area in
`NAMED_ONLY` (chaos, a 10-minute outage) runs only when named.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess  # nosec B404: fixed git command, no shell
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Areas run only when named (too long for every `make bench`): area -> module.
NAMED_ONLY = {"chaos": "benchmarks.chaos"}  # the 10-minute RPC outage (`make chaos`)
# Areas in modules of another name, run with the others: area -> module.
MODULES = {"throughput": "benchmarks.throughput"}  # disputes/s end to end (about 20 minutes)
# Areas computed from other areas' results: run after every measured area.
DERIVED = ("sizing",)  # 1M disputes a day, from throughput's CPU per dispute


def _table(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)"
    keys = list(rows[0])
    cells = [[_fmt(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    line = "| " + " | ".join(k.ljust(w) for k, w in zip(keys, widths)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
    return "\n".join([line, sep, *body])


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _git_commit() -> str:
    """The checkout's commit, with "+dirty" when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True,  # nosec
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],  # nosec
                               cwd=HERE, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _machine() -> dict:
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count()}


def _load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("areas", nargs="*", help="areas to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    available = sorted([p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py")] + list(MODULES)) \
        + sorted(NAMED_ONLY)
    areas = args.areas or [a for a in available if a not in NAMED_ONLY]
    areas = [a for a in areas if a not in DERIVED] + [a for a in areas if a in DERIVED]
    unknown = sorted(set(areas) - set(available))
    if unknown:
        print(f"unknown benchmark area(s): {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for area in areas:
        module = importlib.import_module({**NAMED_ONLY, **MODULES}.get(area, f"benchmarks.bench_{area}"))
        load_at_start = _load()
        started = time.perf_counter()
        rows = module.run(quick=args.quick)
        elapsed = time.perf_counter() - started
        print(f"\n## {area} ({elapsed:.1f} s)\n")
        print(_table(rows))
        payload = {
            "area": area,
            "command": f"python -m benchmarks.run {area}" + (" --quick" if args.quick else ""),
            "quick": args.quick,
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "git_commit": _git_commit(),
            "seconds": round(elapsed, 1),
            "parameters": getattr(module, "PARAMETERS", {}),
            "machine": _machine(),
            # Other work on the machine slows every timing; the load says how busy it was.
            "load_average_1m": {"start": load_at_start, "end": _load()},
            "rows": rows,
        }
        (out_dir / f"{area}.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

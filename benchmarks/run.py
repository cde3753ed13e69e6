"""Runs every benchmark module (benchmarks/bench_*.py), prints a table per area and writes
benchmarks/results/<area>.json.

Each module defines `run(quick: bool) -> list[dict]`: one row per measurement, the same
keys in every row of a module. `python -m benchmarks.run [AREA ...] [--quick]`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("areas", nargs="*", help="areas to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args(argv)
    available = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    areas = args.areas or available
    unknown = sorted(set(areas) - set(available))
    if unknown:
        print(f"unknown benchmark area(s): {', '.join(unknown)}; available: {', '.join(available)}")
        return 2
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for area in areas:
        module = importlib.import_module(f"benchmarks.bench_{area}")
        started = time.perf_counter()
        rows = module.run(quick=args.quick)
        elapsed = time.perf_counter() - started
        print(f"\n## {area} ({elapsed:.1f} s)\n")
        print(_table(rows))
        payload = {
            "area": area,
            "quick": args.quick,
            "machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                        "processor": platform.processor()},
            "rows": rows,
        }
        (out_dir / f"{area}.json").write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

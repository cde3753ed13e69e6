"""Every number in a README benchmark table is a value (or a rounding of one) in the
committed JSON of the benchmark that produced it.

A table belongs to the area named by the last ``python -m benchmarks.run AREA`` line above
it under the same heading. A README number written with d decimals matches a JSON number
that rounds to it at d decimals (thousands separators ignored; ``5.0e-08`` matches to its
last mantissa digit). JSON numbers are its values, and the numbers inside its strings
(case names, notes, parameters). A number edited by hand, or a table whose benchmark was
rerun without updating it, fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", ROOT / "dalrn_core/podp/README.md", ROOT / "dalrn_core/fl/README.md"]
RESULTS = ROOT / "benchmarks/results"
COMMAND = re.compile(r"-m benchmarks\.run (\w+)( --quick)?")
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?|(?<=[A-Za-z=])\d+(?:\.\d+)?",
                    re.IGNORECASE)


def tables(text: str) -> list[tuple[str, bool, list[str]]]:
    """(area, quick, body rows) for each table under a benchmark command line."""
    found: list[tuple[str, bool, list[str]]] = []
    area, quick, rows, seen_separator = None, False, [], False
    for line in [*text.splitlines(), ""]:
        if line.startswith("|") and area:
            if set(line) <= set("|-: "):
                seen_separator = True
            elif seen_separator:
                rows.append(line)
            continue
        if rows:
            found.append((area, quick, rows))
        rows, seen_separator = [], False
        if line.startswith("#"):
            area = None
        elif match := COMMAND.search(line):
            area, quick = match.group(1), bool(match.group(2))
    return found


def numbers_in(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, str):
        return [float(token.replace(",", "")) for token in NUMBER.findall(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers_in(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers_in(v)]
    return []


def half_unit(token: str) -> float:
    """Half of the last written digit's place value: how far a rounding can be off."""
    mantissa, _, exponent = token.lower().replace(",", "").partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def matches(token: str, candidates: list[float]) -> bool:
    value, tolerance = float(token.replace(",", "")), half_unit(token)
    return any(abs(c - value) <= tolerance * (1 + 1e-9) + 1e-12 for c in candidates)


def all_tables():
    for readme in READMES:
        for area, quick, rows in tables(readme.read_text()):
            yield pytest.param(readme, area, quick, rows,
                               id=f"{readme.relative_to(ROOT)}:{area}:{rows[0][:30]}")


def test_the_main_readme_has_a_table_for_every_area():
    from benchmarks.run import MODULES, NAMED_ONLY

    areas = {area for area, _, _ in tables((ROOT / "README.md").read_text())}
    assert areas == {p.stem.removeprefix("bench_") for p in (ROOT / "benchmarks").glob("bench_*.py")} \
        | set(NAMED_ONLY) | set(MODULES)


RELIABILITY_COLUMNS = ("kills survived", "outage survived, s", "disputes lost", "doubled anchors",
                       "leaves under two roots")


def test_the_reliability_table_is_the_chaos_benchmark_and_says_what_it_measured():
    """The README's reliability table: its columns, one row per chaos scenario, each row's
    figures equal to that scenario's row in chaos.json (not merely somewhere in it), and
    `--quick` said in the table's own lines when the JSON is a quick run."""
    text = (ROOT / "README.md").read_text()
    (found,) = [(quick, rows) for area, quick, rows in tables(text) if area == "chaos"]
    quick, rows = found
    payload = json.loads((RESULTS / "chaos.json").read_text())
    assert payload["quick"] == quick
    header = text[:text.index(rows[0])].rstrip().splitlines()[-2]
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert all(c in columns for c in RELIABILITY_COLUMNS), columns
    by_scenario = {r["scenario"]: r for r in payload["rows"]}
    assert set(by_scenario) == {"rpc_outage", "kill_worker", "kill_queue_worker"}
    assert len(rows) == len(by_scenario)
    for line in rows:
        cells = dict(zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True))
        scenario = by_scenario[cells["scenario"].strip("`")]
        assert float(cells["kills survived"]) == scenario["kills"]
        assert float(cells["disputes lost"]) == scenario["lost"]
        assert float(cells["doubled anchors"]) == scenario["doubled_anchors"]
        assert float(cells["leaves under two roots"]) == scenario["leaves_under_two_roots"]
        outage = float(cells["outage survived, s"])
        assert abs(outage - scenario["outage_s"]) <= 0.5


@pytest.mark.parametrize(("readme", "area", "quick", "rows"), list(all_tables()))
def test_every_table_number_is_in_its_benchmark_json(readme, area, quick, rows):
    path = RESULTS / f"{area}.json"
    assert path.exists(), f"{readme.name} cites benchmarks.run {area} but {path} is not committed"
    payload = json.loads(path.read_text())
    assert payload["quick"] == quick, f"{path.name}: quick={payload['quick']}, README says {quick}"
    candidates = numbers_in(payload["rows"]) + numbers_in(payload.get("parameters", {}))
    missing = [(token, row) for row in rows for cell in row.strip("|").split("|")
               for token in NUMBER.findall(cell) if not matches(token, candidates)]
    assert not missing, f"{readme.name}, area {area}: not in {path.name}: {missing}"


def test_a_hand_edited_number_is_caught():
    """The check itself can fail: a value one last digit off does not match."""
    assert matches("0.995", [0.9951])
    assert matches("1,676", [1676.4])
    assert matches("5.0e-08", [4.96e-08])
    assert not matches("0.996", [0.9951])
    assert not matches("1,677", [1676.4])
    assert not matches("5.1e-08", [4.96e-08])

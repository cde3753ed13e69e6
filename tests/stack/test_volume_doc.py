"""docs/deployment/prefect-at-volume.md says what the code sets and what the committed
benchmark measured: its settings table against `PREFECT_AT_VOLUME`, its measured table
against benchmarks/results/prefect_server.json."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dalrn_cli.stack_env import PREFECT_AT_VOLUME

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "deployment" / "prefect-at-volume.md").read_text()
RESULTS = json.loads((ROOT / "benchmarks" / "results" / "prefect_server.json").read_text())


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _as_setting(text: str) -> str:
    """The doc's human value in the form the variable takes ("1 s" -> "1", "2 days" -> "P2D")."""
    days = re.fullmatch(r"(\d+) days?", text)
    return f"P{days.group(1)}D" if days else text.removesuffix(" s")


def test_the_settings_table_is_what_dalrn_serve_sets():
    rows = {_cells(line)[0].strip("`"): _cells(line) for line in DOC.splitlines()
            if line.startswith("| `PREFECT_")}
    assert set(rows) == set(PREFECT_AT_VOLUME)
    for name, value in PREFECT_AT_VOLUME.items():
        assert _as_setting(rows[name][2]) == value, name


def test_the_measured_table_is_the_committed_benchmark():
    assert not RESULTS["quick"]
    table = [_cells(line) for line in DOC.split("## Measured here", 1)[1].splitlines()
             if line.startswith("| ") and not line.startswith("| server") and "---" not in line]
    assert len(table) == len(RESULTS["rows"])
    for cells, row in zip(table, RESULTS["rows"], strict=True):
        assert cells[0].replace("`", "") == row["server"]
        assert int(cells[1]) == row["api_processes"]
        assert float(cells[2]) == row["flows_per_s"] and float(cells[3]) == row["task_runs_per_s"]
        assert float(cells[4]) == row["server_cpu_s_per_flow"]
        assert cells[5] == "-" if row["postgres_cpu_s_per_flow"] is None else float(cells[5]) == \
            row["postgres_cpu_s_per_flow"]
        assert float(cells[6].removesuffix(" s")) == row["recorded_lag_s"] and row["all_recorded"]
        assert float(cells[7]) == round(row["load_1m"], 1)

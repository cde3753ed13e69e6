"""The 1M-a-day sizing is the measured CPU per dispute times the rate, over the utilisation."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_sizing


def _results(tmp_path, **cpu):
    row = {"prefect_db": "postgresql", "workers": 2, "search": "encrypted", "check": "", **cpu}
    backlog = {**row, "check": "backlog", "cpu_worker_s": 99.0}  # the backlog row is not the one sized
    (tmp_path / "throughput.json").write_text(json.dumps({"quick": True, "date": "2026-12-03T00:00:00+00:00",
                                                          "rows": [backlog, row]}))
    return tmp_path


def test_cores_are_cpu_per_dispute_times_the_daily_rate_over_the_utilisation(tmp_path):
    rows = {r["tier"]: r for r in bench_sizing.run(results=_results(tmp_path, cpu_worker_s=0.5, cpu_gateway_s=0.1))}
    rate = 1_000_000 / 86_400
    assert rows["dispute workers"]["cores_for_1m_per_day"] == round(0.5 * rate / 0.6, 1) == 9.6
    assert rows["dispute workers"]["processes"] == 10
    assert rows["gateway"]["processes"] == 2  # 1.9 cores
    assert rows["PostgreSQL"]["cores_for_1m_per_day"] is None  # not measured: not guessed
    assert "quick run" in rows["gateway"]["from"]


def test_without_an_encrypted_row_there_is_nothing_to_size(tmp_path):
    (tmp_path / "throughput.json").write_text(json.dumps({"quick": True, "date": "2026-12-03", "rows": []}))
    with pytest.raises(ValueError, match="encrypted row"):
        bench_sizing.run(results=tmp_path)

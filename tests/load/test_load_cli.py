"""`dalrn load` and `dalrn worker` refuse bad input clearly; the load summary's arithmetic."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dalrn_cli.load import run_load, summarize
from dalrn_core.errors import InputError


def _dalrn(*args: str, env_drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k not in env_drop}
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", *args], capture_output=True, text=True,
                          timeout=120, env=env, check=False)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"api": "http://10.0.0.8:8000"}, "api"),
    ({"rate": 0.0}, "rate"),
    ({"duration": 7200.0}, "duration"),
    ({"tenants": 0}, "tenants"),
    ({"rate": 100.0, "duration": 3600.0}, "rate"),
])
def test_run_load_refuses_before_any_request(kwargs, field):
    args = {"api": "http://127.0.0.1:9", "rate": 1.0, "duration": 1.0, **kwargs}
    with pytest.raises(InputError) as raised:
        run_load(args.pop("api"), **args)
    assert raised.value.problems[0].field == field


def test_cli_refusals_name_the_field_without_a_traceback():
    load = _dalrn("load", "--api", "http://example.com", "--rate", "1", "--duration", "1")
    assert load.returncode == 2 and "api" in load.stderr and "loopback" in load.stderr
    assert "Traceback" not in load.stderr
    worker = _dalrn("worker", env_drop=("DALRN_QUEUE_URL",))
    assert worker.returncode == 2 and "redis" in worker.stderr and "Traceback" not in worker.stderr
    bad = _dalrn("worker", "--redis", "http://127.0.0.1:6379")
    assert bad.returncode == 2 and "redis://" in bad.stderr


def _record(n: int, submitted: float, resolved: float, anchored: float) -> dict:
    def at(s: float) -> str:
        return f"2026-12-02T10:00:{s:06.3f}+00:00"
    return {"dispute_id": f"d{n}", "status": "anchored", "submitted_at": at(submitted), "resolved_at": at(resolved),
            "anchored_at": at(anchored)}


def test_summary_percentiles_rate_and_order_by_hand():
    # Resolution times 1..10 s, one submitted every second from t=0: last resolution at t=19.
    records = [_record(n, n, n + (n + 1), n + (n + 1)) for n in range(10)]
    records.append({"dispute_id": "bad", "error": "ended failed: boom"})
    reading = {"cpu": {"workers": 0.0}, "stages": {}, "disputes": 0}
    after = {"cpu": {"workers": 20.0}, "stages": {"embed": 5.0}, "disputes": 10}
    out = summarize(records, 11, 0.0, reading, after, 3)
    assert out["resolved"] == 10 and out["errors"] == 1 and out["error_samples"] == ["ended failed: boom"]
    assert (out["p50_resolved_s"], out["p95_resolved_s"], out["p99_resolved_s"]) == (5.0, 10.0, 10.0)
    assert out["resolved_per_s"] == round(10 / 19, 3)
    assert out["cpu_s_per_dispute"] == {"workers": 2.0} and out["worker_stage_s_per_dispute"] == {"embed": 0.5}
    assert out["out_of_order"] == 0 and out["backlog_max"] == 3
    flipped = summarize([_record(0, 5, 3, 6)], 1, 0.0, reading, reading, 0)
    assert flipped["out_of_order"] == 1

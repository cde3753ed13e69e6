"""Throughput: disputes a second end to end, through the gateway, on this machine.

Every row is one `dalrn load` run (`dalrn_cli.load.run_load`): tenant processes submit
disputes at a fixed rate through the gateway and play their side (encrypted query and
reveal, or `--plain`); the gateway queues each accepted dispute to a Redis Stream and
`dalrn worker` processes run each as its own Prefect flow run, with its receipts and its
anchor (embedded chain). Latencies are the gateway's own timestamps.

Rows: Prefect's server on SQLite against PostgreSQL (both with the Redis queue and the
workers); 1 against 2 worker processes; with and without encrypted search; and the
backlog check, 1.2 disputes/s with encrypted search on PostgreSQL + Redis with 2 workers
(10 minutes in the full run): the queue's waiting entries at the end say whether the
backlog grew.

`python -m benchmarks.run throughput` (full, about 20 minutes, the machine to itself);
`--quick` runs each row for 20 s (the backlog check 40 s) over a 300-paragraph index.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dalrn_cli.worker import DEFAULT_CONCURRENCY

PARAMETERS = {
    "full": {"row_s": 120, "rate_per_s": 1.2, "backlog_check_s": 600, "index_paragraphs": "all"},
    "quick": {"row_s": 20, "rate_per_s": 1.2, "backlog_check_s": 40, "index_paragraphs": 300},
    "tenants": 2,
    "worker_concurrency": DEFAULT_CONCURRENCY,
    "chain": "embedded EVM (the compiled contract), anchored in each run",
    "prefect": "3.8.8 server, one API process; on PostgreSQL: Redis broker, cache, ordering and leases and "
               "the volume settings of dalrn serve --backend postgres; PostgreSQL 15 and Redis 7 from Debian, on loopback",
}

KEEP = ("disputes", "resolved", "resolved_per_s", "p50_resolved_s", "p95_resolved_s", "p99_resolved_s",
        "p95_anchored_s", "errors", "backlog_max")


def _row(setup: dict[str, Any], summary: dict[str, Any], backlog_end: dict[str, int] | None) -> dict[str, Any]:
    cpu = summary.get("cpu_s_per_dispute") or {}
    return {**setup, **{k: summary.get(k) for k in KEEP},
            "backlog_end": (backlog_end or {}).get("waiting"),
            "cpu_worker_s": cpu.get("workers"), "cpu_prefect_server_s": cpu.get("prefect_server"),
            "cpu_gateway_s": cpu.get("gateway"), "cpu_redis_s": cpu.get("redis"),
            "cpu_postgresql_s": cpu.get("postgresql"), "cpu_tenants_s": cpu.get("tenants"),
            "stage_s": summary.get("worker_stage_s_per_dispute"),
            "error_samples": (summary.get("error_samples") or [])[:5]}  # what went wrong, for the next reader


def _measure(stack: Any, redis_url: str, issued: list[dict], setup: dict[str, Any], *, rate: float,
             seconds: float, plain: bool, database_url: str | None = None) -> dict[str, Any]:
    from dalrn_cli.load import run_load
    from dalrn_core.queue import DisputeQueue

    os.environ["PREFECT_API_URL"] = stack.prefect_api  # the load's meter finds Prefect's server by its port
    summary = run_load(stack.api, rate=rate, duration=seconds, plain=plain, issued=issued, redis_url=redis_url,
                       database_url=database_url, poll_s=1.0, timeout_s=300)
    queue = DisputeQueue(redis_url)
    try:
        backlog = queue.depth()
    finally:
        queue.close()
    return _row({**setup, "search": "plain" if plain else "encrypted", "rate_per_s": rate, "seconds": seconds},
                summary, backlog)


def _tenants(stack: Any, tag: str, count: int) -> list[dict]:
    return [{**stack.create_tenant(f"bench-{tag}-{i}"), "tenant": f"bench-{tag}-{i}"} for i in range(count)]


def run(quick: bool = False) -> list[dict]:
    params = PARAMETERS["quick" if quick else "full"]
    row_s, rate = float(params["row_s"]), float(params["rate_per_s"])
    root = Path(tempfile.mkdtemp(prefix="dalrn-bench-throughput-"))
    root.chmod(0o711)  # PostgreSQL runs as its own user and must reach its folder
    saved = {k: os.environ.get(k) for k in ("DALRN_HOME", "DALRN_KEYS_DIR", "PREFECT_API_URL",
                                            "PREFECT_API_AUTH_STRING")}
    os.environ["DALRN_HOME"], os.environ["DALRN_KEYS_DIR"] = str(root / "home"), str(root / "keys")
    rows: list[dict] = []
    # A SIGTERM unwinds like Ctrl-C, so the servers and workers started below are stopped.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        from dalrn_cli.environment import configure

        configure(quiet=True)
        from dalrn_cli.queue_stack import queue_stack, wait_workers_ready
        from dalrn_cli.stack import start_postgres, start_redis
        from dalrn_core.search.build import build_precedent_index

        build_precedent_index(limit=300 if quick else None)
        env = {"DALRN_GATEWAY_RATE_LIMIT": "100000/minute"}
        with start_redis(root / "redis") as redis_server:
            with queue_stack(root / "sqlite", redis_server.url, workers=1, extra_env=env) as stack:
                issued = _tenants(stack, "sqlite", 2)
                rows.append(_measure(stack, redis_server.url, issued, {"prefect_db": "sqlite", "workers": 1, "check": ""},
                                     rate=rate, seconds=row_s, plain=True))
            with start_postgres(root / "postgres") as postgres, \
                    queue_stack(root / "postgres-stack", redis_server.url, workers=1,
                                prefect_database_url=postgres.asyncpg_url, gateway_database_url=postgres.url,
                                extra_env=env, production=True) as stack:
                issued = _tenants(stack, "pg", 2)
                setup = {"prefect_db": "postgresql", "workers": 1, "check": ""}
                rows.append(_measure(stack, redis_server.url, issued, setup, rate=rate, seconds=row_s, plain=True,
                                     database_url=postgres.url))
                stack.start_worker("w2")
                wait_workers_ready(redis_server.url, ["w2"])
                setup = {"prefect_db": "postgresql", "workers": 2, "check": ""}
                rows.append(_measure(stack, redis_server.url, issued, setup, rate=rate, seconds=row_s, plain=True,
                                     database_url=postgres.url))
                rows.append(_measure(stack, redis_server.url, issued, setup, rate=rate, seconds=row_s, plain=False,
                                     database_url=postgres.url))
                time.sleep(5)
                rows.append(_measure(stack, redis_server.url, issued, {**setup, "check": "backlog"}, rate=1.2,
                                     seconds=float(params["backlog_check_s"]), plain=False,
                                     database_url=postgres.url))
    finally:
        signal.signal(signal.SIGTERM, previous)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(root, ignore_errors=True)
    return rows

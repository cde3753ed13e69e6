"""Prefect's own ceiling on this machine: trivial flows through a local Prefect 3 server on
SQLite, on PostgreSQL + Redis with Prefect's defaults, and with `dalrn serve --backend
postgres`'s volume settings (`dalrn_cli.stack_env.PREFECT_AT_VOLUME`).

Each configuration gets a fresh server (and a fresh database). One client process runs
`FLOWS` flows of `TASKS` trivial tasks each, `CONCURRENCY` at a time, in process (no DALRN
work at all): `flows_per_s` is flows over the client's wall time. `server_cpu_s_per_flow` is
the CPU the server's process tree spent during that time, per flow (with `--workers 2`: both
API processes and the separate services process); `postgres_cpu_s_per_flow` the same for
PostgreSQL's processes. Task-run states reach
the database through the broker and the task run recorder, after the flow itself is done:
`recorded_lag_s` is how long after the last flow ended every task run read Completed.
PostgreSQL and Redis are the Debian servers of `dalrn_cli.stack`, on loopback in a
temporary folder. The machine is shared: read the load average beside each number.
"""

from __future__ import annotations

import contextlib
import os
import subprocess  # nosec B404: fixed commands, no shell
import sys
import tempfile
from pathlib import Path

import psutil

FLOWS, TASKS, CONCURRENCY = 48, 8, 4
QUICK_FLOWS = 16
PARAMETERS = {"flows": FLOWS, "quick_flows": QUICK_FLOWS, "tasks_per_flow": TASKS, "concurrency": CONCURRENCY,
              "server": "prefect server start (Prefect 3.8.8), one API process"}

CLIENT = r"""
import asyncio, json, sys, time
from prefect import flow, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterState, TaskRunFilterStateType

flows, tasks, concurrency = (int(x) for x in sys.argv[1:4])

@task
async def step(x: int) -> int:
    return x + 1

@flow
async def trivial(n: int) -> int:
    total = 0
    for i in range(tasks):
        total += await step(i)
    return total

async def main():
    await trivial(-1)  # warm-up: registers the flow and opens the client's connections
    gate = asyncio.Semaphore(concurrency)
    async def one(n):
        async with gate:
            await trivial(n)
    started = time.monotonic()
    await asyncio.gather(*(one(n) for n in range(flows)))
    wall = time.monotonic() - started
    done = time.monotonic()
    wanted = (flows + 1) * tasks
    completed = TaskRunFilter(state=TaskRunFilterState(type=TaskRunFilterStateType(any_=["COMPLETED"])))
    body = {"task_runs": completed.model_dump(mode="json", exclude_unset=True)}
    async with get_client() as client:
        async def count():
            return (await client._client.post("/task_runs/count", json=body)).json()
        while await count() < wanted and time.monotonic() - done < 120:
            await asyncio.sleep(0.25)
        recorded = await count()
    print(json.dumps({"wall_s": wall, "recorded_lag_s": time.monotonic() - done, "recorded": recorded,
                      "wanted": wanted}))

asyncio.run(main())
"""


def _tree_cpu(process: psutil.Process) -> float:
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = each.cpu_times()
            total += times.user + times.system
    return total


def _measure(name: str, server_env: dict[str, str], flows: int, *, workers: int = 1,
             database_pid: int | None = None) -> dict:
    import json

    from dalrn_cli.environment import environment
    from dalrn_cli.serve import _stop, start_server, start_services
    from dalrn_cli.stack import free_port

    services = None
    with environment(server_env):
        server, api = start_server(free_port(), workers=workers)
        if workers > 1:
            services = start_services()
    try:
        trees = [psutil.Process(p.pid) for p in (server, services) if p is not None]
        database = psutil.Process(database_pid) if database_pid else None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_")}
        env.update({"PREFECT_API_URL": api, "PREFECT_LOGGING_LEVEL": "WARNING",
                    "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
        load = round(os.getloadavg()[0], 2)
        cpu_before = sum(_tree_cpu(t) for t in trees)
        database_before = _tree_cpu(database) if database else 0.0
        done = subprocess.run([sys.executable, "-c", CLIENT, str(flows), str(TASKS), str(CONCURRENCY)],  # nosec
                              env=env, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the benchmark client failed on {name}: {done.stderr.strip()[-1500:]}")
        cpu = sum(_tree_cpu(t) for t in trees) - cpu_before
        database_cpu = _tree_cpu(database) - database_before if database else 0.0
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        _stop(services)
        _stop(server)
    return {"server": name, "api_processes": workers, "flows": flows, "tasks_per_flow": TASKS,
            "flows_per_s": round(flows / result["wall_s"], 2),
            "task_runs_per_s": round(flows * TASKS / result["wall_s"], 1),
            "server_cpu_s_per_flow": round(cpu / flows, 3),
            "postgres_cpu_s_per_flow": round(database_cpu / flows, 3) if database else None,
            "recorded_lag_s": round(result["recorded_lag_s"], 1),
            "all_recorded": result["recorded"] >= result["wanted"],
            "load_1m": load}


def _fresh_database(postgres, name: str) -> str:
    import psycopg

    with psycopg.connect(host=postgres.host, port=postgres.port, user=postgres.user, password=postgres.password,
                         dbname="postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')  # names are this module's constants
        connection.execute(f'CREATE DATABASE "{name}"')
    return postgres.database_url(name, driver="asyncpg")


def run(quick: bool) -> list[dict]:
    import redis

    from dalrn_cli.stack import postgres_available, redis_available, start_postgres, start_redis
    from dalrn_cli.stack_env import prefect_server_env

    flows = QUICK_FLOWS if quick else FLOWS
    folder = Path(tempfile.mkdtemp(prefix="dalrn-bench-prefect-"))
    folder.chmod(0o711)  # PostgreSQL's own user must enter it
    rows = []
    try:
        rows.append(_measure("SQLite (embedded default)", {"PREFECT_HOME": str(folder / "prefect-sqlite")}, flows))
        reason = postgres_available() or redis_available()
        if reason:
            print(f"PostgreSQL + Redis rows skipped: {reason}")
            return rows
        with start_postgres(folder / "postgres") as postgres, start_redis(folder / "redis") as broker:
            for name, at_volume, workers in (("PostgreSQL + Redis, Prefect defaults", False, 1),
                                             ("PostgreSQL + Redis, dalrn serve --backend postgres", True, 1),
                                             ("PostgreSQL + Redis, volume settings, --workers 2", True, 2)):
                redis.Redis.from_url(broker.url).flushall()
                label = f"bench_{'volume' if at_volume else 'defaults'}_{workers}"
                server_env = {**prefect_server_env(_fresh_database(postgres, label), broker.url, at_volume=at_volume),
                              "PREFECT_HOME": str(folder / label)}
                rows.append(_measure(name, server_env, flows, workers=workers, database_pid=postgres.pid))
    finally:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return rows

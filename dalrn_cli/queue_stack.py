"""A production-shaped stack on this machine, for the throughput tests and benchmark.

Prefect's server (on SQLite or on a given PostgreSQL), the gateway with the dispute queue
(`DALRN_QUEUE_URL`) and N `dalrn worker` processes, all on loopback, all started as child
processes with one environment, all stopped on exit. PostgreSQL and Redis themselves come
from `dalrn_cli.stack` (started by the caller, who owns their lifetime).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dalrn_cli.serve import _stop, client_env, prefect_auth_string, start_gateway, start_server
from dalrn_cli.stack import free_port
from dalrn_cli.stack_env import prefect_server_env


@dataclass
class QueueStack:
    """What a load run needs to know of a running stack."""

    api: str  # the gateway's base URL
    prefect_api: str
    env: dict[str, str]
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: Path | None = None

    def create_tenant(self, name: str, role: str = "party") -> dict:
        """A tenant and its first API key, made with `dalrn admin tenant create` (the operator's way)."""
        done = subprocess.run([sys.executable, "-m", "dalrn_cli.main", "admin", "tenant", "create", name, "--role",
                               role, "--json"], env=self.env, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"could not create tenant {name}: {done.stderr.strip()[-400:]}")
        created: dict = json.loads(done.stdout)
        return created

    def start_worker(self, consumer: str, *extra: str) -> subprocess.Popen:
        """One more `dalrn worker` on this stack's queue."""
        import redis

        from dalrn_cli.worker import WORKERS

        # A report under this name from an earlier stack on the same Redis would pass for
        # this worker's (`wait_workers_ready`) before it has even created the deployment.
        client = redis.Redis.from_url(self.env["DALRN_QUEUE_URL"])
        try:
            client.hdel(WORKERS, consumer)
        finally:
            client.close()
        out = open(self.logs / f"worker-{consumer}.log", "ab") if self.logs else subprocess.DEVNULL  # noqa: SIM115
        worker = subprocess.Popen([sys.executable, "-m", "dalrn_cli.main", "worker", "--consumer", consumer, *extra],
                                  env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.workers.append(worker)
        return worker


def wait_workers_ready(redis_url: str, consumers: list[str], timeout_s: float = 180.0) -> None:
    """Until every named worker has reported itself in Redis (it loaded everything and reads)."""
    import redis

    from dalrn_cli.worker import WORKERS

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            seen = {k.decode() for k in client.hkeys(WORKERS)}
            if set(consumers) <= seen:
                return
            time.sleep(0.5)
    finally:
        client.close()
    raise RuntimeError(f"workers {consumers} did not report ready within {timeout_s:.0f} s")


@contextlib.contextmanager
def queue_stack(folder: Path, redis_url: str, *, workers: int = 1, prefect_database_url: str | None = None,
                gateway_database_url: str | None = None, worker_args: tuple[str, ...] = (),
                extra_env: dict[str, str] | None = None, production: bool = False) -> Iterator[QueueStack]:
    """Prefect server, gateway (queueing) and `workers` dispute workers; stopped on exit.

    The caller's environment decides the data folders (`DALRN_HOME`, `DALRN_KEYS_DIR`).
    `production` (with `prefect_database_url`) gives Prefect's server what `dalrn serve
    --backend postgres` gives it: Redis for its broker, cache, ordering and leases, and the
    volume settings (`dalrn_cli.stack_env.prefect_server_env`).
    """
    folder.mkdir(parents=True, exist_ok=True)
    auth = prefect_auth_string()
    server_env = prefect_server_env(prefect_database_url, redis_url) if production and prefect_database_url else {}
    saved = {k: os.environ.get(k) for k in ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_HOME", *server_env)}
    os.environ.update(server_env)
    if prefect_database_url:
        os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = prefect_database_url
    else:
        os.environ["PREFECT_HOME"] = str(folder / "prefect")
    server = gateway = None
    stack: QueueStack | None = None
    try:
        server, api = start_server(free_port(), auth)
        env = client_env(api, auth)
        env.update({"DALRN_QUEUE_URL": redis_url, **(extra_env or {})})
        if gateway_database_url:
            env["DALRN_GATEWAY_DATABASE_URL"] = gateway_database_url
        env.pop("PREFECT_API_DATABASE_CONNECTION_URL", None)
        gateway, url = start_gateway(free_port(), env)
        stack = QueueStack(api=url, prefect_api=api, env=env, logs=folder)
        names = [f"w{i + 1}" for i in range(workers)]
        for name in names:
            stack.start_worker(name, *worker_args)
        wait_workers_ready(redis_url, names)
        yield stack
    finally:
        for worker in stack.workers if stack else []:
            _stop(worker)
        _stop(gateway)
        _stop(server)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

"""`dalrn serve --backend postgres` starts PostgreSQL and Redis under the data folder, runs
Prefect's server and the gateway on them, answers /healthz, and stops them all on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
import redis

from dalrn_cli.stack import free_port, postgres_available, redis_available

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(600)


def _wait_for(url: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"dalrn serve exited with {process.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout_s} s")


def _alive(pid: int) -> bool:
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False


@pytest.mark.skipif(bool(postgres_available() or redis_available()),
                    reason=str(postgres_available() or redis_available()))
def test_serve_on_postgres_and_redis_answers_and_stops_with_its_servers():
    folder = Path(tempfile.mkdtemp(prefix="dalrn-serve-pg-"))
    folder.chmod(0o711)  # PostgreSQL's own user must enter the data folder
    gateway_port, prefect_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PREFECT_", "DALRN_GATEWAY_", "DALRN_QUEUE"))}
    env.update({"DALRN_HOME": str(folder / "home"), "DALRN_KEYS_DIR": str(folder / "keys"),
                "PYTHONPATH": str(ROOT)})
    serve = subprocess.Popen([sys.executable, "-m", "dalrn_cli.main", "serve", "--backend", "postgres",
                              "--port", str(gateway_port), "--prefect-port", str(prefect_port)],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(f"http://127.0.0.1:{gateway_port}/healthz", serve, 240)
        stack = folder / "home" / "stack"
        postgres = json.loads((stack / "postgres" / "server.json").read_text())
        redis_state = json.loads((stack / "redis" / "server.json").read_text())
        assert _alive(postgres["pid"]) and _alive(redis_state["pid"])
        login = {"host": "127.0.0.1", "port": postgres["port"], "user": postgres["user"],
                 "password": postgres["password"], "connect_timeout": 10}
        with psycopg.connect(dbname="prefect", **login) as connection:  # Prefect's tables, migrated
            assert connection.execute("SELECT count(*) FROM flow").fetchone() is not None
        with psycopg.connect(dbname="dalrn", **login) as connection:  # the gateway's, with its bootstrap admin
            assert connection.execute("SELECT name, role FROM tenants").fetchall() == [("operator", "admin")]
        broker = redis.Redis(host="127.0.0.1", port=redis_state["port"], password=redis_state["password"])
        assert broker.ping()
    finally:
        serve.send_signal(signal.SIGTERM)
        output, _ = serve.communicate(timeout=240)  # four processes, each given 30 s to stop, on a busy machine
        if serve.returncode == 0:
            shutil.rmtree(folder, ignore_errors=True)
    assert serve.returncode == 0, output[-3000:]
    assert not _alive(postgres["pid"]) and not _alive(redis_state["pid"]), "a server outlived dalrn serve"
    assert "Postgres:" in output and "Redis:" in output

"""Several gateway processes append to one audit log at once: the chain stays one line.

Each process is a real interpreter with its own engine and connection pool, as separate
gateway workers are; they start together (a go file) so their appends overlap. SQLite
always; PostgreSQL where its server (Debian's `postgresql`) and the `psycopg` driver are
installed: a throwaway cluster on a loopback port, trust auth, removed afterwards.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway import audit
from gateway.db import open_database
from gateway.db.models import AuditAnchor, AuditEntry
from tests.gateway.prefect_server import free_port

pytestmark = pytest.mark.timeout(300)

PROCESSES, EACH = 4, 30
ROOT = Path(__file__).resolve().parents[2]

WORKER = """
import os, sys, time
from pathlib import Path
from gateway import audit
from gateway.db import open_database

name, url, go, each = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
_engine, sessions = open_database(url)
policy = audit.AnchorPolicy(every_entries=7, every_s=3600)
while not go.exists():
    time.sleep(0.01)
with sessions() as session:
    for i in range(each):
        audit.append(session, principal=name, tenant="acme", role="party", action="dispute.read",
                     resource=f"dispute:acme/{name}-{i}", outcome="ok", request_id=f"{name}-{i}", policy=policy)
"""


def _postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl") or next((str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))), None)
    return Path(found).resolve().parent if found else None


@pytest.fixture()
def postgres_url():
    """A fresh PostgreSQL cluster on a free loopback port (as user postgres when run as root)."""
    bin_dir = _postgres_bin()
    if bin_dir is None or importlib.util.find_spec("psycopg") is None:
        pytest.skip("needs PostgreSQL's server binaries and the psycopg driver")
    folder = Path(tempfile.mkdtemp(prefix="dalrn-pg-"))  # outside pytest's 0700 tmp: postgres must reach it
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_owner, *command], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "dalrn")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"), "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dalrn", "gateway")
        yield f"postgresql+psycopg://dalrn@127.0.0.1:{port}/gateway"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    return request.getfixturevalue("postgres_url")


def test_concurrent_processes_extend_one_linear_chain(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "home"))
    url = database_url
    engine, sessions = open_database(url)  # migrated once, before the workers race
    audit.audit_public_key()  # the audit key exists before they sign
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, f"w{n}", url, str(go), str(EACH)], cwd=ROOT, env=env,
                                stderr=subprocess.PIPE, text=True) for n in range(PROCESSES)]
    time.sleep(3)  # the interpreters are up and waiting on the go file
    go.touch()
    for worker in workers:
        _out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err

    with sessions() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [r.seq for r in rows] == list(range(1, PROCESSES * EACH + 1))  # no gap, no fork
        assert {r.request_id for r in rows} == {f"w{n}-{i}" for n in range(PROCESSES) for i in range(EACH)}
        assert len({r.principal for r in rows[: PROCESSES * EACH // 2]}) > 1, "the workers did not overlap"
        assert audit.verify_log(session) == []
        # Heads queued by whichever process got there: each a real entry, in ascending order.
        queued = session.scalars(select(AuditAnchor).order_by(AuditAnchor.queued_at, AuditAnchor.seq)).all()
        assert queued and [q.seq for q in queued] == sorted(q.seq for q in queued)
        assert all(session.get(AuditEntry, q.seq).hash == q.hash for q in queued)
    engine.dispose()

"""Several gateway processes append to one audit log at once: the chain stays one line.

Each process is a real interpreter with its own engine and connection pool, as separate
gateway workers are; they start together (a go file) so their appends overlap.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway import audit
from gateway.db import open_database
from gateway.db.models import AuditAnchor, AuditEntry

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


def test_concurrent_processes_extend_one_linear_chain(tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    engine, sessions = open_database(url)  # migrated once, before the workers race
    audit.audit_public_key()  # the audit key exists before they sign
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
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

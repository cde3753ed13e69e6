"""The audit log: every content read or state change leaves an entry; editing, deleting or
moving an entry is caught and named, by the library and by `dalrn audit verify`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from gateway.audit import audit_head, verify_log
from tests.gateway.gateway_app import add_tenant, bearer, client_of, make_app, token_of


@pytest.fixture()
def logged(tmp_path):
    app = make_app(tmp_path)
    with client_of(app) as client:
        token = token_of(client, add_tenant(app, "acme"))
        for _ in range(5):
            assert client.get("/v1/disputes", headers=bearer(token)).status_code == 200
        assert client.get("/v1/disputes/nope", headers=bearer(token)).status_code == 404
    yield app, tmp_path / "gateway.db"


def _verify(app):
    with app.state.sessions() as session:
        return [(f.seq, f.problem) for f in verify_log(session)]


def _cli(db_path):
    env = {**os.environ, "DALRN_GATEWAY_DATABASE_URL": f"sqlite:///{db_path}"}
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_requests_leave_entries_and_an_intact_log_verifies(logged):
    app, db = logged
    with app.state.sessions() as session:
        seq, head = audit_head(session)
        rows = session.execute(text("SELECT tenant, role, action, outcome, request_id FROM audit_log ORDER BY seq")).all()
    assert seq == 6 and len(head) == 64
    assert [r.action for r in rows] == ["dispute.list"] * 5 + ["dispute.read"]
    assert rows[-1].outcome == "not_found" and all(r.tenant == "acme" and r.role == "party" and r.request_id for r in rows)
    assert _verify(app) == []
    done = _cli(db)
    assert done.returncode == 0 and "6 entries" in done.stdout, done.stderr


def test_an_edited_entry_is_named(logged):
    app, db = logged
    with app.state.engine.begin() as c:
        c.execute(text("UPDATE audit_log SET outcome = 'ok:0' WHERE seq = 3 AND outcome != 'ok:0'"))
        c.execute(text("UPDATE audit_log SET tenant = 'globex' WHERE seq = 3"))
    assert _verify(app) == [(3, "content does not match its hash (edited or moved)")]
    done = _cli(db)
    assert done.returncode == 3 and "entry 3:" in done.stderr and "edited" in done.stderr


def test_a_deleted_entry_is_named(logged):
    app, db = logged
    with app.state.engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    found = _verify(app)
    assert found[0] == (5, "entries 4 before it are missing (deleted)") and all(seq == 5 for seq, _ in found)
    assert _cli(db).returncode == 3


def test_a_deleted_tail_is_caught_by_the_anchored_head(logged):
    app, _db = logged
    with app.state.sessions() as session:
        anchored = audit_head(session)
    with app.state.engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = 6"))
    with app.state.sessions() as session:
        assert _verify(app) == [] and audit_head(session) != anchored  # why the head must be anchored


def test_reordered_entries_are_named(logged):
    app, db = logged
    with app.state.engine.begin() as c:  # swap entries 2 and 5 by their sequence numbers
        c.execute(text("UPDATE audit_log SET seq = -2 WHERE seq = 2"))
        c.execute(text("UPDATE audit_log SET seq = 2 WHERE seq = 5"))
        c.execute(text("UPDATE audit_log SET seq = 5 WHERE seq = -2"))
    named = {seq for seq, _ in _verify(app)}
    assert {2, 5} <= named <= {2, 3, 5, 6}
    done = _cli(db)
    assert done.returncode == 3 and "entry 2:" in done.stderr and "entry 5:" in done.stderr

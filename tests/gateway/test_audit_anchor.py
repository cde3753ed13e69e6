"""The audit head rides in the next receipt batch: queued once it runs ahead, anchored with
the disputes' leaves, and `dalrn audit verify` holds the log to it.

The tampers here are the ones the hash chain alone cannot see (a cut-off tail, a log
rewritten end to end with the audit key) and the ones it can, now also checked against
the anchored head.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import select, text

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import load_record
from dalrn_core.evidence.cid import cid_of
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import anchor_pending, pending
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.receipts import receipt_leaf
from dalrn_core.podp.verify import verify_dispute
from gateway import audit
from gateway.db import open_database
from gateway.db.models import AuditAnchor, AuditEntry
from tests.gateway.gateway_app import add_tenant, bearer, client_of, make_app, token_of
from tests.podp.conftest import resolve_disputes

pytestmark = pytest.mark.timeout(300)

EVERY_5 = audit.AnchorPolicy(every_entries=5, every_s=3600)


@pytest.fixture()
def db(home):
    url = f"sqlite:///{home / 'gateway.db'}"
    engine, sessions = open_database(url)
    yield sessions, url
    engine.dispose()


def _append(session, n: int, policy=EVERY_5, start: int = 0) -> None:
    for i in range(start, start + n):
        audit.append(session, principal=f"k{i}", tenant="acme", role="party", action="dispute.read",
                     resource=f"dispute:acme/d{i}", outcome="ok", request_id=f"r{i}", policy=policy)


def _audit_pending() -> list[dict]:
    return [e for e in pending() if audit.AUDIT_CHAIN in e.values()]


def _anchor() -> dict:
    batch = anchor_pending(open_embedded_anchor(), LocalContentStore())
    assert batch is not None
    return batch


def _cli(home, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DALRN_HOME": str(home / "home"), "DALRN_KEYS_DIR": str(home / "keys"),
           "DALRN_GATEWAY_DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", "audit", *args], env=env, capture_output=True,
                          text=True, timeout=180, check=False)


def test_the_head_is_queued_every_n_entries_and_only_forward(db):
    sessions, _url = db
    with sessions() as session:
        _append(session, 4)
        assert _audit_pending() == [] and audit.last_queued(session) is None
        _append(session, 1, start=4)  # the fifth entry is 5 past nothing queued
        [queued] = _audit_pending()
        head = audit.last_queued(session)
        assert (head.seq, head.hash) == audit.audit_head(session) == (5, session.get(AuditEntry, 5).hash)
        statement = audit.head_statement(5, head.hash)
        assert queued["leaf"] == receipt_leaf(statement).hex()  # the leaf commits to seq and hash
        assert queued["receipt_cid"] == head.statement_cid == cid_of(canonical_bytes(statement))
        _append(session, 4, start=5)
        assert audit.last_queued(session).seq == 5  # 9 is only 4 past 5
        _append(session, 1, start=9)
        assert audit.last_queued(session).seq == 10 and len(_audit_pending()) == 1  # replaced, not added
        assert audit.queue_head(session) is None  # the head is queued already
        assert audit.verify_log(session) == []


def test_a_head_older_than_the_interval_is_queued_by_the_next_append(db):
    sessions, _url = db
    policy = audit.AnchorPolicy(every_entries=1000, every_s=0.5)
    with sessions() as session:
        _append(session, 2, policy)
        assert audit.last_queued(session) is None
        time.sleep(0.6)
        _append(session, 1, policy, start=2)
        assert audit.last_queued(session).seq == 3
        _append(session, 1, policy, start=3)
        assert audit.last_queued(session).seq == 3


def test_the_head_is_anchored_with_the_disputes_of_the_next_batch(db, home):
    sessions, url = db
    disputes = resolve_disputes(2, prefix="audited")
    with sessions() as session:
        _append(session, 5)
        _append(session, 2, start=5)  # written after the queued head: the next batch's business
    batch = _anchor()
    # One root over the disputes' heads and the audit head (read from the records each got).
    assert {load_record(c)["anchor"]["root"] for c in [*disputes, audit.AUDIT_CHAIN]} == {batch["root"]}
    assert all(verify_dispute(d) for d in disputes)  # the dispute proofs are untouched by the audit leaf

    with sessions() as session:
        checked = audit.check_anchored_head(session, open_embedded_anchor)
    assert (checked.seq, checked.findings) == (5, [])
    assert checked.anchor["tx_hash"] == batch["tx_hash"] and checked.anchor["root"] == batch["root"]
    assert any("contract accepts the proof" in line for line in checked.held)

    done = _cli(home, url, "verify")
    assert done.returncode == 0, done.stderr
    assert "7 entries" in done.stdout and "anchored head: entry 5" in done.stdout
    assert batch["tx_hash"] in done.stdout and "contract accepts the proof" in done.stdout


def test_audit_anchor_queues_the_head_at_once(db, home):
    sessions, url = db
    with sessions() as session:
        _append(session, 2)
    done = _cli(home, url, "anchor")
    assert done.returncode == 0 and "queued head entry 2" in done.stdout, done.stderr
    assert _cli(home, url, "anchor").stdout.startswith("head entry 2 is queued already")
    before = _cli(home, url, "verify", "--skip-chain")
    assert before.returncode == 0 and "no audit head anchored yet (entry 2 is queued" in before.stdout
    _anchor()
    after = _cli(home, url, "verify")
    assert after.returncode == 0 and "anchored head: entry 2" in after.stdout, after.stderr


@pytest.fixture()
def anchored_at_6(db):
    """A log of 8 entries whose entry 6 is the anchored head."""
    sessions, url = db
    policy = audit.AnchorPolicy(every_entries=6, every_s=3600)
    with sessions() as session:
        _append(session, 8, policy)
        assert audit.last_queued(session).seq == 6
    _anchor()
    return sessions, url


def _findings(sessions):
    with sessions() as session:
        log = [(f.seq, f.problem) for f in audit.verify_log(session)]
        head = audit.check_anchored_head(session, open_embedded_anchor)
    return log, [(f.seq, f.problem) for f in head.findings]


def _sql(sessions, *statements: str) -> None:
    with sessions() as session:
        for statement in statements:
            session.execute(text(statement))
        session.commit()


def test_an_edited_entry_before_the_anchored_head_is_named(anchored_at_6, home):
    sessions, url = anchored_at_6
    _sql(sessions, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 3")
    log, head = _findings(sessions)
    assert log == [(3, "content does not match its hash (edited or moved)")] and head == []
    done = _cli(home, url, "verify")
    assert done.returncode == 3 and "entry 3: content does not match" in done.stderr, done.stderr


def test_a_deleted_entry_before_the_anchored_head_is_named(anchored_at_6):
    sessions, _url = anchored_at_6
    _sql(sessions, "DELETE FROM audit_log WHERE seq = 2")
    log, head = _findings(sessions)
    assert log[0] == (3, "entries 2 before it are missing (deleted)") and {s for s, _ in log} == {3}
    assert head == []


def test_reordered_entries_before_the_anchored_head_are_named(anchored_at_6):
    sessions, _url = anchored_at_6
    _sql(sessions, "UPDATE audit_log SET seq = -2 WHERE seq = 2", "UPDATE audit_log SET seq = 2 WHERE seq = 4",
         "UPDATE audit_log SET seq = 4 WHERE seq = -2")
    log, _head = _findings(sessions)
    assert {2, 4} <= {s for s, _ in log} <= {2, 3, 4, 5}


def test_a_cut_off_tail_is_caught_by_the_anchored_head(anchored_at_6, home):
    sessions, url = anchored_at_6
    _sql(sessions, "DELETE FROM audit_log WHERE seq >= 6")
    log, head = _findings(sessions)
    assert log == []  # a shorter chain is a valid chain: only the anchor knows better
    assert head == [(6, "the anchored head is missing from the log (deleted: the log was cut back)")]
    done = _cli(home, url, "verify")
    assert done.returncode == 3 and "entry 6: the anchored head is missing" in done.stderr, done.stderr


def test_a_log_rewritten_with_the_audit_key_is_caught_by_the_anchored_head(anchored_at_6, home):
    """Whoever holds the audit key can re-hash and re-sign every entry after an edit: the
    chain verifies, the anchored head does not match."""
    sessions, url = anchored_at_6
    with sessions() as session:
        prev = session.get(AuditEntry, 2).hash
        for entry in session.scalars(select(AuditEntry).where(AuditEntry.seq >= 3).order_by(AuditEntry.seq)):
            if entry.seq == 3:
                entry.outcome = "denied"
            entry.prev_hash = prev
            entry.hash = audit._digest(prev, audit._fields_of(entry))
            entry.signature = audit._signer().sign(bytes.fromhex(entry.hash)).signature.hex()
            prev = entry.hash
        session.commit()
    log, head = _findings(sessions)
    anchor = load_record(audit.AUDIT_CHAIN)["anchor"]
    tx = anchor["tx_hash"]
    assert log == []
    assert head == [(6, (f"hash differs from the head anchored in tx {tx} (chain {anchor['chain_id']}, block "
                         f"{anchor['block_number']}): the log was rewritten at or before this entry"))]
    done = _cli(home, url, "verify")
    assert done.returncode == 3 and "entry 6: hash differs" in done.stderr and tx in done.stderr


def test_an_altered_head_statement_is_refused(anchored_at_6):
    """The anchored leaf names its statement by CID: a statement edited in both places fails."""
    sessions, _url = anchored_at_6
    with sessions() as session:
        row = session.scalars(select(AuditAnchor)).one()
        row.hash = "f" * 64
        session.commit()
        cid = row.statement_cid
    [path] = LocalContentStore().root.rglob(cid)
    path.write_bytes(canonical_bytes(audit.head_statement(6, "f" * 64)))
    _log, head = _findings(sessions)
    assert head == [(0, (f"the anchored head statement {cid} is lost or altered: neither the content store "
                         "nor audit_anchors holds it"))]


def test_requests_through_the_gateway_queue_the_head(home, monkeypatch):
    monkeypatch.setenv("DALRN_GATEWAY_AUDIT_ANCHOR_EVERY_ENTRIES", "3")
    audit.default_policy.cache_clear()
    try:
        app = make_app(home)
        with client_of(app) as client:
            token = token_of(client, add_tenant(app, "acme"))
            for _ in range(4):
                assert client.get("/v1/disputes", headers=bearer(token)).status_code == 200
        with app.state.sessions() as session:
            assert audit.last_queued(session).seq == 3
            assert [e["receipt_cid"] for e in _audit_pending()] == [audit.last_queued(session).statement_cid]
    finally:
        audit.default_policy.cache_clear()


def test_the_head_endpoint_reports_the_anchored_head(home):
    app = make_app(home)
    with client_of(app) as client:
        token = token_of(client, add_tenant(app, "root", "admin"))
        for _ in range(3):
            assert client.get("/v1/audit", headers=bearer(token)).status_code == 200  # each read is logged
        assert client.get("/v1/audit/head", headers=bearer(token)).json()["anchored"] is None
        with app.state.sessions() as session:
            queued = audit.queue_head(session)
        batch = _anchor()
        answer = client.get("/v1/audit/head", headers=bearer(token)).json()
        assert answer["anchored"] == {"seq": queued.seq, "hash": queued.hash, "root": batch["root"],
                                      "tx_hash": batch["tx_hash"], "chain_id": batch["chain_id"],
                                      "block_number": batch["block_number"], "holds": True}
        assert client.get("/v1/audit", headers=bearer(token)).status_code == 200
        assert client.get("/v1/audit/head", headers=bearer(token)).json()["seq"] > queued.seq
        _sql(app.state.sessions, f"DELETE FROM audit_log WHERE seq >= {queued.seq}")
        assert client.get("/v1/audit/head", headers=bearer(token)).json()["anchored"]["holds"] is False

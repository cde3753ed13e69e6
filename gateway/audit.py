"""The append-only audit log: each entry hashes the previous entry's hash and is signed.

`hash = sha256(prev_hash || JCS(entry fields with seq))`, signed with the gateway's
Ed25519 audit key (a 0600 file in the keys folder). Editing an entry breaks its hash,
deleting one leaves a gap in `seq` and a broken link, moving one breaks the links around
it; `verify_log` names the first entry where each happens.

What the chain alone cannot show is a cut-off tail, or a log rewritten end to end by
someone holding the audit key. So its head goes into the receipt batches: the head
statement `{"version", "seq", "hash"}` is queued as the pending leaf of the receipt chain
`AUDIT_CHAIN` (one pending leaf per chain: a newer head replaces an older one not yet
anchored), and the next batch, whoever anchors it, puts it under its root on chain.
`check_anchored_head` then requires the log to hold that head at that seq.

The head is queued by the append that finds it `every_entries` entries or `every_s`
seconds past the last queued head (`queue_head` also does it on demand: `dalrn audit
anchor`). Appends take the database's write lock (`write_transaction`), so several
gateway processes extend one linear chain.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey as NaclSigningKey
from nacl.signing import VerifyKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.dispute.records import STATUS_ANCHORED, record_path
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.cid import cid_of
from dalrn_core.evidence.store import ContentStore
from dalrn_core.keys import load_or_create
from dalrn_core.podp.batch import queue_leaf
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.merkle import verify_proof
from dalrn_core.podp.receipts import receipt_leaf
from gateway.db import write_transaction
from gateway.db.models import AuditAnchor, AuditEntry
from gateway.identity import now

AUDIT_KEY_FILE = "gateway-audit.key"
GENESIS = "0" * 64
# "~" starts no tenant's chain key and no dispute id, so no dispute's chain can take this name.
AUDIT_CHAIN = "~gateway-audit"
HEAD_VERSION = "dalrn.audit-head/1"
_APPEND_LOCK = "dalrn.audit.append"
_lock = threading.Lock()


@dataclass(frozen=True)
class AnchorPolicy:
    """How far the head may run ahead of the last queued one before an append queues it."""

    every_entries: int = 100
    every_s: float = 60.0


def _store() -> ContentStore:
    """The configured content store (blocks imports Prefect: loaded on first use)."""
    from blocks.evidence_store import content_store

    return content_store(None)


@functools.cache
def default_policy() -> AnchorPolicy:
    from gateway.settings import Settings

    settings = Settings()
    return AnchorPolicy(settings.audit_anchor_every_entries, settings.audit_anchor_every_s)


def _signer() -> NaclSigningKey:
    return NaclSigningKey(load_or_create(AUDIT_KEY_FILE, lambda: secrets.token_bytes(32)))


def audit_public_key() -> str:
    return _signer().verify_key.encode().hex()


def _digest(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + rfc8785.dumps(fields)).hexdigest()


def _fields(seq: int, at: datetime, principal: str, tenant: str, role: str, action: str, resource: str,
            outcome: str, request_id: str) -> dict[str, Any]:
    return {"seq": seq, "at": _utc(at).isoformat(timespec="microseconds"), "principal": principal,
            "tenant": tenant, "role": role, "action": action, "resource": resource, "outcome": outcome,
            "request_id": request_id}


def _utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _fields_of(entry: AuditEntry) -> dict[str, Any]:
    return _fields(entry.seq, entry.at, entry.principal, entry.tenant, entry.role, entry.action, entry.resource,
                   entry.outcome, entry.request_id)


def _last(session: Session) -> AuditEntry | None:
    return session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()


def last_queued(session: Session) -> AuditAnchor | None:
    """The head queued last for a receipt batch (anchored or still pending), or None."""
    return session.scalars(select(AuditAnchor).order_by(AuditAnchor.seq.desc()).limit(1)).first()


def append(session: Session, *, principal: str, tenant: str, role: str, action: str, resource: str,
           outcome: str, request_id: str, policy: AnchorPolicy | None = None) -> AuditEntry:
    """Write one entry in its own transaction (committed before the caller's answer goes out).

    The entry is linked under the database's write lock, so concurrent appends from any
    number of processes line up one after another. When the head has run `policy`'s
    distance past the last queued head, it is queued for the next receipt batch.
    """
    policy = policy or default_policy()
    with _lock, write_transaction(session, _APPEND_LOCK):
        last = _last(session)
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
        at = now()
        fields = _fields(seq, at, principal, tenant, role, action, resource, outcome, request_id)
        digest = _digest(prev, fields)
        entry = AuditEntry(seq=seq, at=at, principal=principal, tenant=tenant, role=role, action=action,
                           resource=resource, outcome=outcome, request_id=request_id, prev_hash=prev, hash=digest,
                           signature=_signer().sign(bytes.fromhex(digest)).signature.hex())
        session.add(entry)
        queued = last_queued(session)
        if queued is None:  # nothing queued yet: the distance counts from the log's first entry
            first = session.get(AuditEntry, 1)
            since_seq, since_at = 0, _utc(first.at) if first is not None else at
        else:
            since_seq, since_at = queued.seq, _utc(queued.queued_at)
    # Queued only once the entry is committed: a head that never reached the log must not
    # be anchored (verification would then accuse the log of losing it).
    if seq - since_seq >= policy.every_entries or at - since_at >= timedelta(seconds=policy.every_s):
        queue_head(session)
    return entry


def audit_head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the last entry; (0, GENESIS) for an empty log."""
    last = _last(session)
    return (last.seq, last.hash) if last else (0, GENESIS)


def head_statement(seq: int, digest: str) -> dict[str, Any]:
    """What the receipt batch anchors for the head: its leaf is the SHA-256 of this JSON (JCS)."""
    return {"version": HEAD_VERSION, "seq": seq, "hash": digest}


def queue_head(session: Session) -> AuditAnchor | None:
    """Queue the current head as the audit chain's pending leaf, unless it is queued already.

    Returns the queued head, or None when the log is empty or its head was queued before.
    The statement is kept in the content store and in `audit_anchors`, so a verifier finds
    the seq behind an anchored leaf.
    """
    with write_transaction(session, _APPEND_LOCK):
        seq, digest = audit_head(session)
        queued = last_queued(session)
        if seq == 0 or (queued is not None and queued.seq >= seq):
            return None
        statement = head_statement(seq, digest)
        cid = _store().put(canonical_bytes(statement))
        # Written under the lock: the pending leaf only ever moves forward, whichever process writes it.
        queue_leaf(AUDIT_CHAIN, receipt_leaf(statement), cid)
        anchor = AuditAnchor(seq=seq, hash=digest, statement_cid=cid, queued_at=now())
        session.add(anchor)
    return anchor


@dataclass(frozen=True)
class Finding:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}"


def verify_log(session: Session, public_key_hex: str | None = None) -> list[Finding]:
    """Every break in the chain, each naming the entry (empty list: the log is intact)."""
    verifier = VerifyKey(bytes.fromhex(public_key_hex or audit_public_key()))
    findings: list[Finding] = []
    prev_seq, prev_hash = 0, GENESIS
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
        if entry.seq != prev_seq + 1:
            missing = f"{prev_seq + 1}" if entry.seq == prev_seq + 2 else f"{prev_seq + 1}..{entry.seq - 1}"
            findings.append(Finding(entry.seq, f"entries {missing} before it are missing (deleted)"))
        if entry.prev_hash != prev_hash:
            findings.append(Finding(entry.seq, "does not link to the entry before it (deleted or reordered)"))
        if _digest(entry.prev_hash, _fields_of(entry)) != entry.hash:
            findings.append(Finding(entry.seq, "content does not match its hash (edited or moved)"))
        try:
            verifier.verify(bytes.fromhex(entry.hash), bytes.fromhex(entry.signature))
        except (BadSignatureError, ValueError):
            findings.append(Finding(entry.seq, "signature does not verify"))
        prev_seq, prev_hash = entry.seq, entry.hash
    return findings


@dataclass(frozen=True)
class AnchoredHead:
    """The head the latest receipt batch anchored, and what checking the log against it found."""

    seq: int
    hash: str
    anchor: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    held: list[str] = field(default_factory=list)

    @property
    def transaction(self) -> str:
        return describe_transaction(self.anchor)


def describe_transaction(anchor: dict[str, Any]) -> str:
    """The anchoring transaction as a person reads it: hash, chain and block."""
    where = f" (chain {anchor.get('chain_id')}, block {anchor.get('block_number')})" if anchor.get("block_number") else ""
    return f"tx {anchor.get('tx_hash') or '(none: the root was already anchored)'}{where}"


def anchored_record() -> dict[str, Any] | None:
    """The audit chain's anchor entry (root, tx, leaf, proof, manifest), or None if never anchored."""
    import json

    path = record_path(AUDIT_CHAIN)
    if not path.exists():
        return None
    record: dict[str, Any] = json.loads(path.read_text())
    return record.get("anchor") if record.get("status") == STATUS_ANCHORED else None


def _statement(session: Session, cid: str) -> dict[str, Any] | None:
    """The head statement behind an anchored leaf: from the content store, else `audit_anchors`."""
    import json

    try:
        statement: dict[str, Any] = json.loads(_store().get(cid))
        return statement
    except IntegrityError:  # not kept here (or altered): the table row, checked against the CID below
        row = session.scalars(select(AuditAnchor).where(AuditAnchor.statement_cid == cid)).first()
        return head_statement(row.seq, row.hash) if row is not None else None


def check_anchored_head(session: Session, connect: Callable[[], AnchorClient] | None = None) -> AnchoredHead | None:
    """Check the log against the latest anchored head; None if no head was ever anchored.

    The anchored leaf must be the digest of a head statement (seq, hash) whose CID the batch
    recorded, its Merkle proof must lead to the batch root, the root must be on the chain
    of the client `connect` opens (not checked without one; opened only when a head was
    anchored), and the log must hold an entry with that seq and hash: the log as anchored
    is a prefix of the log now.
    """
    anchor = anchored_record()
    if anchor is None:
        return None
    cid = anchor["leaf_receipt_cid"]
    statement = _statement(session, cid)
    if statement is None or cid_of(canonical_bytes(statement)) != cid:
        return AnchoredHead(0, "", anchor, [Finding(0, f"the anchored head statement {cid} is lost or altered: "
                                                       "neither the content store nor audit_anchors holds it")])
    seq, digest = int(statement["seq"]), str(statement["hash"])
    findings: list[Finding] = []
    held: list[str] = []
    leaf, root = _hex(anchor["leaf"]), _hex(anchor["root"])
    proof = [_hex(p) for p in anchor.get("proof", [])]
    if receipt_leaf(statement) != leaf:
        findings.append(Finding(seq, f"the anchored leaf {anchor['leaf']} is not the digest of head statement {cid}"))
    elif not verify_proof(leaf, proof, root):
        findings.append(Finding(seq, f"the Merkle proof of the anchored head does not lead to root {anchor['root']}"))
    else:
        held.append(f"Merkle proof ({len(proof)} siblings) leads to root {anchor['root']}")
    if connect is not None:
        held_on_chain, problem = _on_chain(connect(), anchor, leaf, proof, root)
        if problem:
            findings.append(Finding(seq, problem))
        else:
            held.append(held_on_chain)
    entry = session.get(AuditEntry, seq)
    if entry is None:
        findings.append(Finding(seq, "the anchored head is missing from the log (deleted: the log was cut back)"))
    elif entry.hash != digest:
        findings.append(Finding(seq, f"hash differs from the head anchored in {describe_transaction(anchor)}: "
                                     "the log was rewritten at or before this entry"))
    else:
        held.append(f"the log holds the anchored head at entry {seq}")
    return AnchoredHead(seq, digest, anchor, findings, held)


def _on_chain(client: AnchorClient, anchor: dict[str, Any], leaf: bytes, proof: list[bytes], root: bytes) -> tuple[str, str]:
    """(what held, "") or ("", the problem) for the root and proof on `client`'s chain."""
    chain_id = client.w3.eth.chain_id
    if anchor.get("chain_id") is not None and anchor["chain_id"] != chain_id:
        return "", (f"the head was anchored on chain {anchor['chain_id']}, checked against chain {chain_id}: "
                    "pass that chain's block with --chain")
    if not client.is_anchored(root):
        return "", f"root {anchor['root']} is not anchored on chain {chain_id}"
    if not client.verify_receipt(leaf, proof, root):
        return "", f"the contract on chain {chain_id} rejects the anchored head's inclusion proof"
    return f"root anchored on chain {chain_id} at {client.address}; the contract accepts the proof", ""


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def entries(session: Session, tenants: set[str] | None, limit: int = 100, after: int = 0) -> list[dict[str, Any]]:
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    if tenants is not None:
        query = query.where(AuditEntry.tenant.in_(sorted(tenants)))
    return [{**_fields_of(e), "prev_hash": e.prev_hash, "hash": e.hash, "signature": e.signature}
            for e in session.scalars(query)]

"""The append-only audit log: each entry hashes the previous entry's hash and is signed.

`hash = sha256(prev_hash || JCS(entry fields with seq))`, signed with the gateway's
Ed25519 audit key (a 0600 file in the keys folder). Editing an entry breaks its hash,
deleting one leaves a gap in `seq` and a broken link, moving one breaks the links around
it; `verify_log` names the first entry where each happens. `audit_head()` is what the
next receipt batch anchors (the hook into the anchoring flow is a later step).

Appends are serialized in this process by a lock; across processes the unique `seq` and
`hash` columns make a concurrent append fail rather than fork the chain.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime

import rfc8785
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey as NaclSigningKey
from nacl.signing import VerifyKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from dalrn_core.keys import load_or_create
from gateway.db.models import AuditEntry
from gateway.identity import aware, now

AUDIT_KEY_FILE = "gateway-audit.key"
GENESIS = "0" * 64
_lock = threading.Lock()


def _signer() -> NaclSigningKey:
    return NaclSigningKey(load_or_create(AUDIT_KEY_FILE, lambda: secrets.token_bytes(32)))


def audit_public_key() -> str:
    return _signer().verify_key.encode().hex()


def _digest(prev_hash: str, fields: dict) -> str:
    return hashlib.sha256(prev_hash.encode() + rfc8785.dumps(fields)).hexdigest()


def _fields(seq: int, at: datetime, principal: str, tenant: str, role: str, action: str, resource: str,
            outcome: str, request_id: str) -> dict:
    return {"seq": seq, "at": aware(at).isoformat(timespec="microseconds"), "principal": principal,
            "tenant": tenant, "role": role, "action": action, "resource": resource, "outcome": outcome,
            "request_id": request_id}


def _fields_of(entry: AuditEntry) -> dict:
    return _fields(entry.seq, entry.at, entry.principal, entry.tenant, entry.role, entry.action, entry.resource,
                   entry.outcome, entry.request_id)


def append(session: Session, *, principal: str, tenant: str, role: str, action: str, resource: str,
           outcome: str, request_id: str) -> AuditEntry:
    """Write one entry in its own transaction (committed before the caller's answer goes out)."""
    with _lock:
        last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
        seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
        at = now()
        fields = _fields(seq, at, principal, tenant, role, action, resource, outcome, request_id)
        digest = _digest(prev, fields)
        entry = AuditEntry(seq=seq, at=at, principal=principal, tenant=tenant, role=role, action=action,
                           resource=resource, outcome=outcome, request_id=request_id, prev_hash=prev, hash=digest,
                           signature=_signer().sign(bytes.fromhex(digest)).signature.hex())
        session.add(entry)
        session.commit()
    return entry


def audit_head(session: Session) -> tuple[int, str]:
    """(seq, hash) of the last entry; (0, GENESIS) for an empty log."""
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    return (last.seq, last.hash) if last else (0, GENESIS)


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


def entries(session: Session, tenants: set[str] | None, limit: int = 100, after: int = 0) -> list[dict]:
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(limit)
    if tenants is not None:
        query = query.where(AuditEntry.tenant.in_(sorted(tenants)))
    return [{**_fields_of(e), "prev_hash": e.prev_hash, "hash": e.hash, "signature": e.signature}
            for e in session.scalars(query)]

"""Receipt-signing keys the operator has used, so receipts signed before a rotation still verify.

Receipts are signed by the workers with the key file `podp-ed25519.seed` (or the Secret
block holding the same seed). The gateway remembers every public key it has seen there in
`receipt_keys`: the one in the file now is `active`; one the file no longer holds is
`retired` (it signs nothing new, but what it signed stays valid); one the operator revoked
(a key that leaked) is never published again, so a verifier refuses what it signed.

A rotation (`rotate`, `dalrn admin receipt-key rotate`) registers the old key before the
file is replaced. A file replaced by hand is noticed on the next look: the key seen before
is retired then, as long as it had been seen once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from nacl.signing import SigningKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from dalrn_core.atomic import write_bytes_atomic
from dalrn_core.errors import InputError
from dalrn_core.keys import keys_dir
from dalrn_core.podp.signing import RECEIPT_KEY_FILE, ReceiptSigner
from gateway.db import write_transaction
from gateway.db.models import ReceiptKey
from gateway.identity import aware, now

_LOCK = "dalrn.receipt-keys"


def kid_of(public_key: str) -> str:
    """The key id: the first 16 hex digits of the raw Ed25519 public key."""
    return public_key[:16]


def _current_public_key() -> str:
    return ReceiptSigner.from_key_file().public_key


def _in_step(session: Session, current: str) -> bool:
    """Whether the table already says `current` is the one active key."""
    active = session.scalars(select(ReceiptKey).where(ReceiptKey.retired_at.is_(None))).all()
    return [k.public_key for k in active] == [current]


def sync_current(session: Session) -> str:
    """Register the key file's key as the active one, retiring any other; returns its kid."""
    current = _current_public_key()
    if _in_step(session, current):
        return kid_of(current)
    with write_transaction(session, _LOCK):
        if session.get(ReceiptKey, kid_of(current)) is None:
            session.add(ReceiptKey(kid=kid_of(current), public_key=current, first_seen_at=now(), retired_at=None,
                                   revoked_at=None))
        for other in session.scalars(select(ReceiptKey).where(ReceiptKey.retired_at.is_(None),
                                                              ReceiptKey.public_key != current)):
            other.retired_at = now()
    return kid_of(current)


def _when(moment: datetime | None) -> str | None:
    moment = aware(moment)
    return moment.isoformat() if moment is not None else None


def published(session: Session) -> list[dict[str, Any]]:
    """Every key a verifier may trust: the active one first, then the retired, newest first."""
    current = sync_current(session)
    rows = session.scalars(select(ReceiptKey).where(ReceiptKey.revoked_at.is_(None))
                           .order_by(ReceiptKey.first_seen_at.desc())).all()
    rows = sorted(rows, key=lambda k: k.kid != current)  # stable: the active key, then by age
    return [{"kid": k.kid, "alg": "Ed25519", "public_key": k.public_key,
             "status": "active" if k.kid == current else "retired",
             "first_seen_at": _when(k.first_seen_at), "retired_at": _when(k.retired_at)} for k in rows]


def rotate(session: Session) -> tuple[str, str]:
    """A new signing key in the key file; the old one stays published as retired. (old, new) kids."""
    old = sync_current(session)  # known before the file forgets it
    seed = bytes(SigningKey.generate())
    write_bytes_atomic(keys_dir() / RECEIPT_KEY_FILE, seed, mode=0o600, durable=True)
    return old, sync_current(session)


def revoke(session: Session, kid: str) -> None:
    """Stop publishing `kid`: what it signed no longer verifies. The active key must be rotated first."""
    key = session.get(ReceiptKey, kid)
    if key is None:
        raise InputError.one("kid", f"no receipt-signing key {kid!r} was ever published", subject="receipt key")
    if kid == sync_current(session):
        raise InputError.one("kid", f"{kid} signs receipts now: rotate first (dalrn admin receipt-key rotate)",
                             subject="receipt key")
    with write_transaction(session, _LOCK):
        key = session.get(ReceiptKey, kid)
        if key is not None and key.revoked_at is None:
            key.revoked_at = now()

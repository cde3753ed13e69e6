"""Tenants, API keys (argon2id hashes only), rotation with overlap, revocation, grants.

Shared by `dalrn admin` and the admin endpoints. A key is `key_id` (public, the OAuth
client id) plus a secret shown once; only pwdlib's argon2id hash of the secret is stored.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from dalrn_core.errors import InputError
from gateway.db.models import ApiKey, AuditorGrant, Tenant
from gateway.scopes import ROLES

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_hasher = PasswordHash((Argon2Hasher(),))
# Verifying against this when the key id is unknown keeps the timing of both refusals alike.
_DUMMY_HASH = _hasher.hash("dalrn-no-such-key")


def now() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were written in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


@dataclass(frozen=True)
class IssuedKey:
    tenant: str
    key_id: str
    api_key: str
    expires_at: datetime

    def to_json(self) -> dict:
        return {"tenant": self.tenant, "key_id": self.key_id, "api_key": self.api_key,
                "expires_at": self.expires_at.isoformat()}


def _issue(session: Session, tenant: str, ttl_days: int) -> IssuedKey:
    key_id, secret = f"key_{secrets.token_hex(8)}", secrets.token_urlsafe(32)
    created = now()
    expires = created + timedelta(days=ttl_days)
    session.add(ApiKey(key_id=key_id, tenant=tenant, secret_hash=_hasher.hash(secret), created_at=created,
                       expires_at=expires, revoked_at=None, replaced_by=None))
    return IssuedKey(tenant, key_id, secret, expires)


def create_tenant(session: Session, name: str, role: str = "party", *, ttl_days: int = 365,
                  grants: list[str] | None = None) -> IssuedKey:
    if not NAME.match(name or ""):
        raise InputError.one("name", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}", subject="tenant")
    if role not in ROLES:
        raise InputError.one("role", f"must be one of {', '.join(ROLES)}", subject="tenant")
    if ttl_days < 1:
        raise InputError.one("ttl_days", "must be at least 1", subject="tenant")
    if session.get(Tenant, name) is not None:
        raise InputError.one("name", f"tenant {name!r} already exists", subject="tenant")
    session.add(Tenant(name=name, role=role, created_at=now()))
    session.flush()
    issued = _issue(session, name, ttl_days)
    for target in grants or []:
        grant(session, name, target)
    session.commit()
    return issued


def grant(session: Session, auditor: str, target: str) -> None:
    found = session.get(Tenant, auditor)
    if found is None:
        raise InputError.one("auditor", f"no tenant {auditor!r}", subject="grant")
    if found.role != "auditor":
        raise InputError.one("auditor", f"tenant {auditor!r} has role {found.role}, not auditor", subject="grant")
    if session.get(Tenant, target) is None:
        raise InputError.one("tenant", f"no tenant {target!r}", subject="grant")
    if session.get(AuditorGrant, (auditor, target)) is None:
        session.add(AuditorGrant(auditor=auditor, target=target, created_at=now()))
    session.flush()


def granted_targets(session: Session, auditor: str) -> set[str]:
    return set(session.scalars(select(AuditorGrant.target).where(AuditorGrant.auditor == auditor)))


def _key(session: Session, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise InputError.one("key_id", f"no key {key_id!r}", subject="key")
    return key


def rotate_key(session: Session, key_id: str, *, overlap_h: float = 24.0, ttl_days: int = 365) -> IssuedKey:
    """A new key for the same tenant; the old one stays valid for `overlap_h` hours."""
    if overlap_h < 0:
        raise InputError.one("overlap", "must not be negative", subject="key")
    old = _key(session, key_id)
    if old.revoked_at is not None:
        raise InputError.one("key_id", f"key {key_id} is revoked", subject="key")
    issued = _issue(session, old.tenant, ttl_days)
    old.expires_at = min(aware(old.expires_at), now() + timedelta(hours=overlap_h))
    old.replaced_by = issued.key_id
    session.commit()
    return issued


def revoke_key(session: Session, key_id: str) -> None:
    key = _key(session, key_id)
    if key.revoked_at is None:
        key.revoked_at = now()
    session.commit()


def key_is_live(key: ApiKey | None, at: datetime | None = None) -> bool:
    at = at or now()
    return key is not None and key.revoked_at is None and aware(key.expires_at) > at


def authenticate(session: Session, key_id: str, secret: str) -> tuple[ApiKey, Tenant] | None:
    """The key and its tenant when `secret` matches a live key, else None."""
    key = session.get(ApiKey, key_id) if key_id else None
    if key is None:
        _hasher.verify(secret or "", _DUMMY_HASH)
        return None
    if not _hasher.verify(secret or "", key.secret_hash) or not key_is_live(key):
        return None
    return key, session.get(Tenant, key.tenant)

"""Server-side record of tenant keys, for rotation: which key ids are active now.

A tenant registers the public context of its new key; that retires every earlier key of
the same tenant (a new context replaces the old), and each key also lapses by itself after
its lifetime (30 days by default) even if the tenant never rotates. `active_ids()` is what
`encrypted_scores(..., active_key_ids=...)` checks, so a query under a retired key is
refused with `RetiredKeyError` before any computation.

The record holds key ids and dates only (public), as JSON at
``data_dir()/keys/registry.json`` by default, rewritten atomically on every change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dalrn_core.atomic import write_json_atomic
from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError
from dalrn_core.search.ckks_keys import DEFAULT_LIFETIME, key_id_of


@dataclass(frozen=True)
class KeyRecord:
    """One registered key: whose, when it was registered, when it lapses or was retired."""

    key_id: str
    tenant: str
    registered_at: str
    expires_at: str
    retired_at: str | None = None

    def active(self, now: datetime) -> bool:
        return self.retired_at is None and now < datetime.fromisoformat(self.expires_at)


class KeyRegistry:
    """Active and retired tenant keys, persisted as JSON."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else sub_dir("keys") / "registry.json"
        self.records: dict[str, KeyRecord] = {}
        if self.path.exists():
            for item in json.loads(self.path.read_text()):
                self.records[item["key_id"]] = KeyRecord(**item)

    def register(self, tenant: str, public_context: bytes,
                 lifetime: timedelta = DEFAULT_LIFETIME,
                 now: datetime | None = None) -> KeyRecord:
        """Accept a tenant's new key and retire the tenant's earlier ones."""
        if not isinstance(public_context, (bytes, bytearray)) or not public_context:
            raise InputError.one("public_context", "must be non-empty bytes")
        return self.register_id(tenant, key_id_of(bytes(public_context)), lifetime, now)

    def register_id(self, tenant: str, key_id: str, lifetime: timedelta = DEFAULT_LIFETIME,
                    now: datetime | None = None) -> KeyRecord:
        """`register` by the key's id (`key_id_of` its public context), for a caller that
        checked the context already; the record is rewritten only when something changed."""
        if not isinstance(tenant, str) or not tenant.strip():
            raise InputError.one("tenant", "must be a non-empty string")
        if not isinstance(key_id, str) or len(key_id) != 64 or not set(key_id) <= set("0123456789abcdef"):
            raise InputError.one("key_id", "must be 64 lowercase hex digits (sha256 of the public context)")
        if lifetime <= timedelta(0):
            raise InputError.one("lifetime", "must be positive")
        moment = _utc(now)
        changed = False
        for other in list(self.records.values()):
            if other.tenant == tenant and other.key_id != key_id and other.retired_at is None:
                self.records[other.key_id] = replace(other, retired_at=moment.isoformat())
                changed = True
        record = self.records.get(key_id)
        if record is None:
            record = KeyRecord(key_id, tenant, moment.isoformat(), (moment + lifetime).isoformat())
            self.records[key_id] = record
            changed = True
        if changed:
            self._save()
        return record

    def retire(self, key_id: str, now: datetime | None = None) -> None:
        """Refuse this key from now on (for example after a suspected leak)."""
        if key_id not in self.records:
            raise InputError.one("key_id", f"{key_id} is not a registered key")
        self.records[key_id] = replace(self.records[key_id],
                                       retired_at=_utc(now).isoformat())
        self._save()

    def active_ids(self, now: datetime | None = None) -> set[str]:
        """Ids of keys neither retired nor past their lifetime."""
        moment = _utc(now)
        return {r.key_id for r in self.records.values() if r.active(moment)}

    def _save(self) -> None:
        write_json_atomic(self.path, [asdict(r) for r in self.records.values()], indent=1,
                          sort_keys=False)


def _utc(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise InputError.one("now", "must be timezone-aware")
    return now.astimezone(UTC)

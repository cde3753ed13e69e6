"""What DALRN remembers of each resolved dispute, in the data folder.

`disputes/<id>/record.json` holds the status, the receipt CIDs in order, the memo CIDs, the
settlement and, once anchored, the Merkle proof and transaction. Receipts, memos and batch
manifests themselves live in the content store, addressed by CID. Files are replaced
atomically and durably (fsynced, with their folder), so a reader never sees half a record
and a record a caller was told is written survives a power cut. Every read-modify-write of
a record holds its lock (`record_lock`), so concurrent updates never lose one another.
"""

from __future__ import annotations

import fcntl
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dalrn_core.config import sub_dir
from dalrn_core.durable import write_json_durably
from dalrn_core.errors import InputError

STATUS_ANCHOR_PENDING = "anchor_pending"  # resolved, its leaf waits for the next batch
STATUS_ANCHORED = "anchored"

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # the dispute model's Identifier


def chain_key(tenant: str | None, dispute_id: str) -> str:
    """The receipt chain of `dispute_id` as `tenant` submitted it (the plain id without one).

    "~" is outside the identifier alphabet, so two tenants' chains for one dispute id, and a
    tenant's chain and a plain id, never share a key (nor a folder).
    """
    if tenant is None:
        return dispute_id
    if not isinstance(tenant, str) or not _TENANT.match(tenant):
        raise InputError.one("tenant", f"{tenant!r} is not an identifier ([A-Za-z0-9._-], 1-64, "
                                       "starting with a letter or digit)")
    return f"{tenant}~{dispute_id}"


def record_path(dispute_id: str) -> Path:
    return sub_dir("disputes") / dispute_id / "record.json"


def load_record(dispute_id: str) -> dict[str, Any]:
    path = record_path(dispute_id)
    if not path.exists():
        raise InputError.one("dispute_id", f"no resolved dispute {dispute_id!r} in {path.parent.parent}")
    record: dict[str, Any] = json.loads(path.read_text())
    return record


@contextmanager
def record_lock(dispute_id: str) -> Iterator[None]:
    """The lock of one record (and of its receipt chain): every read-modify-write holds it.

    An exclusive `flock` on a file beside the record; it is not re-entrant (a second hold
    from the same process waits for the first), so an update never takes it twice.
    """
    folder = sub_dir("disputes", dispute_id)
    with open(folder / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def save_record(dispute_id: str, record: dict[str, Any]) -> None:
    """Replace the record durably; a caller that read it first holds `record_lock`."""
    write_json_durably(record_path(dispute_id), record)


def merge_record(dispute_id: str, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into the record (creating it) and save it; the caller holds `record_lock`."""
    path = record_path(dispute_id)
    record: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"dispute_id": dispute_id}
    record.update(fields)
    save_record(dispute_id, record)
    return record


def update_record(dispute_id: str, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into the record (creating it) and save it durably, under its lock."""
    with record_lock(dispute_id):
        return merge_record(dispute_id, **fields)

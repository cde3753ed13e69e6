"""What DALRN remembers of each resolved dispute, in the data folder.

`disputes/<id>/record.json` holds the status, the receipt CIDs in order, the memo CIDs, the
settlement and, once anchored, the Merkle proof and transaction. Receipts, memos and batch
manifests themselves live in the content store, addressed by CID. Files are replaced
atomically, so a reader never sees half a record.
"""

from __future__ import annotations

import json
from pathlib import Path

from dalrn_core.atomic import write_json_atomic
from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError

STATUS_ANCHOR_PENDING = "anchor_pending"  # resolved, its leaf waits for the next batch
STATUS_ANCHORED = "anchored"


def record_path(dispute_id: str) -> Path:
    return sub_dir("disputes") / dispute_id / "record.json"


def load_record(dispute_id: str) -> dict:
    path = record_path(dispute_id)
    if not path.exists():
        raise InputError.one("dispute_id", f"no resolved dispute {dispute_id!r} in {path.parent.parent}")
    return json.loads(path.read_text())


def save_record(dispute_id: str, record: dict) -> None:
    write_json_atomic(record_path(dispute_id), record)


def update_record(dispute_id: str, **fields) -> dict:
    """Merge `fields` into the record (creating it) and save it."""
    path = record_path(dispute_id)
    record = json.loads(path.read_text()) if path.exists() else {"dispute_id": dispute_id}
    record.update(fields)
    save_record(dispute_id, record)
    return record

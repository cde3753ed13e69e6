"""What DALRN remembers of each resolved dispute, in the data folder.

`disputes/<id>/record.json` holds the status, the receipt CIDs in order, the memo CIDs, the
settlement and, once anchored, the Merkle proof and transaction. Receipts, memos and batch
manifests themselves live in the content store, addressed by CID. Files are replaced
atomically, so a reader never sees half a record.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError

STATUS_RESOLVED = "anchor_pending"
STATUS_ANCHORED = "anchored"


def write_json_atomic(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(value, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

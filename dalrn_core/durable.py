"""Writes that survive a crash or a power cut once they return.

`write_bytes_atomic(..., durable=True)` fsyncs the new file before renaming it into place;
POSIX makes the rename itself durable only once the folder is synced too, which these
helpers add. An append is flushed and fsynced before it returns, so a record a caller was
told is written is on disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dalrn_core.atomic import write_bytes_atomic


def fsync_dir(folder: str | Path) -> None:
    """Make a rename, a new or a removed file in `folder` durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_durably(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` atomically and durably."""
    path = Path(path)
    write_bytes_atomic(path, data, durable=True)
    fsync_dir(path.parent)


def write_json_durably(path: str | Path, value: Any) -> None:
    """`write_durably` of `value` as JSON (sorted keys, indented)."""
    write_durably(path, (json.dumps(value, indent=2, sort_keys=True) + "\n").encode())


def remove_durably(path: str | Path) -> None:
    """Remove `path` (if there) and make the removal durable."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_dir(path.parent)


def append_durably(path: str | Path, text: str) -> None:
    """Append `text` to `path` and return once it is on disk."""
    with open(path, "a") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())

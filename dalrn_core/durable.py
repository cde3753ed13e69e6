"""Writes that survive a crash or a power cut once they return.

`write_bytes_atomic(..., durable=True)` fsyncs the new file before renaming it into place;
POSIX makes the rename itself durable only once the folder is synced too, which these
helpers add. An append is flushed and fsynced before it returns, so a record a caller was
told is written is on disk.

A write that fails (a full disk, a quota) leaves nothing half-written: a replacement keeps
the old file, an append is cut back to where it began. The error raised is still an
`OSError` with its errno, and names the file that could not be written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dalrn_core.atomic import write_bytes_atomic


@contextmanager
def naming_the_file(path: str | Path, what: str = "file") -> Iterator[None]:
    """Re-raise an `OSError` of the block (same errno, so callers still tell ENOSPC apart)
    with a message naming `what` could not be written, and where."""
    try:
        yield
    except OSError as exc:
        if getattr(exc, "dalrn_named", False):
            raise
        named = OSError(exc.errno, f"could not write {what} {path}: {exc.strerror or exc}")
        named.dalrn_named = True  # type: ignore[attr-defined]
        raise named from exc


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
    with naming_the_file(path):
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
    """Append `text` to `path` and return once it is on disk; on failure the file is cut
    back to its old length, so no torn line is left for the next reader."""
    data = text.encode()
    with naming_the_file(path):
        # Unbuffered, so nothing is left in a buffer to be flushed after the cut.
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.lseek(descriptor, 0, os.SEEK_END)
            try:
                written = 0
                while written < len(data):
                    written += os.write(descriptor, data[written:])
                os.fsync(descriptor)
            except OSError:
                _cut_back(descriptor, start)
                raise
        finally:
            os.close(descriptor)


def _cut_back(descriptor: int, length: int) -> None:
    # Truncating frees space, so it succeeds on a full disk; if even that fails the torn
    # tail is what a reader's torn-line check is for.
    try:
        os.ftruncate(descriptor, length)
        os.fsync(descriptor)
    except OSError:
        pass

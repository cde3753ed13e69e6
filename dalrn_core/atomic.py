"""Writing files so that a reader sees the old content or the new, never half of either.

Each write goes to a uniquely named temporary file in the same folder, then `os.replace`
swaps it in (atomic on POSIX). Unique names keep concurrent writers from clobbering each
other's temporary files.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: str | Path, data: bytes, *, mode: int = 0o644, durable: bool = False) -> None:
    """Replace `path` with `data`; `mode` 0o600 for secrets, `durable` to fsync first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, value: Any, **dumps: Any) -> None:
    """Replace `path` with `value` as JSON (sorted keys, indented, unless told otherwise)."""
    options = {"indent": 2, "sort_keys": True, **dumps}
    write_bytes_atomic(path, (json.dumps(value, **options) + "\n").encode())

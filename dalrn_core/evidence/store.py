"""Content-addressed stores: `put(bytes) -> CID`, `get(CID) -> bytes`.

Every `get` re-hashes what it returns and refuses a mismatch, so a tampered or corrupted
object is never handed on. The local store is the embedded default; production uses IPFS
through the kubo HTTP API (`dalrn_core.evidence.ipfs.IpfsContentStore`, same interface and
the same CIDs).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from dalrn_core.config import sub_dir
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.cid import cid_of, parse_cid, verify_cid


class ContentStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, cid: str) -> bytes: ...

    def has(self, cid: str) -> bool: ...


class LocalContentStore:
    """A folder of files named by their CID, written atomically (temp file, then rename)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else sub_dir("content")
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, cid: str) -> Path:
        parse_cid(cid)
        # Two-character fan-out keeps directories small for large stores.
        return self.root / cid[-2:] / cid

    def put(self, data: bytes) -> str:
        cid = cid_of(data)
        path = self._path(cid)
        if path.exists():
            return cid
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return cid

    def get(self, cid: str) -> bytes:
        path = self._path(cid)
        if not path.exists():
            raise IntegrityError(f"content {cid} is not in the store at {self.root}")
        data = path.read_bytes()
        verify_cid(cid, data)
        return data

    def has(self, cid: str) -> bool:
        return self._path(cid).exists()

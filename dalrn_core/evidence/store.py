"""Content-addressed stores: `put(bytes) -> CID`, `get(CID) -> bytes`.

Every `get` re-hashes what it returns and refuses a mismatch, naming the CID, so a tampered
or corrupted object is never handed on; putting the same bytes again repairs it. A `put`
is durable once it returns (file and folder fsynced), and one that fails (a full disk)
leaves no object and says which CID could not be written. The local store is the embedded
default; production uses IPFS through the kubo HTTP API
(`dalrn_core.evidence.ipfs.IpfsContentStore`, same interface and the same CIDs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from dalrn_core.atomic import write_bytes_atomic
from dalrn_core.config import sub_dir
from dalrn_core.durable import fsync_dir, naming_the_file
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.cid import cid_of, parse_cid, verify_cid


class ContentStore(Protocol):
    def put(self, data: bytes) -> str: ...

    def get(self, cid: str) -> bytes: ...

    def has(self, cid: str) -> bool: ...


class LocalContentStore:
    """A folder of files named by their CID, written atomically and durably."""

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
        if path.exists() and path.read_bytes() == data:
            return cid  # a corrupted copy is not kept: it is written again below
        with naming_the_file(path, f"content {cid}"):
            write_bytes_atomic(path, data, durable=True)
            fsync_dir(path.parent)
        return cid

    def get(self, cid: str) -> bytes:
        path = self._path(cid)
        if not path.exists():
            raise IntegrityError(f"content {cid} is not in the store at {self.root}")
        data = path.read_bytes()
        try:
            verify_cid(cid, data)
        except IntegrityError:
            raise IntegrityError(f"content does not match its CID: {cid} in the store at {self.root} is "
                                 f"corrupted (its bytes hash to {cid_of(data)})") from None
        return data

    def has(self, cid: str) -> bool:
        return self._path(cid).exists()

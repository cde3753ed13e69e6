"""IPFS content store through the kubo HTTP RPC API (`/api/v0/...`).

An object is added as one raw block, so IPFS names it with the same CIDv1 (raw codec,
sha2-256, base32) that `cid_of` computes and the local store uses:
1. `add` with `cid-version=1`, `raw-leaves=true` and a fixed-size chunker of 1 MiB;
2. a file that fits one chunk is stored as a single raw leaf, and kubo returns that
   leaf's CID (bigger files would get a dag-pb root instead, so they are refused);
3. the returned CID must equal `cid_of(data)`, else the node is refused as untrusted;
4. `get` fetches the raw block (`block/get`) and re-hashes it against the CID.

Source: kubo's RPC reference (docs.ipfs.tech/reference/kubo/rpc) and the UnixFS spec.
"""

from __future__ import annotations

from typing import Any

import requests

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.cid import cid_of, parse_cid, verify_cid
from dalrn_core.observability.breakers import IPFS, guarded
from dalrn_core.redact import redact

# boxo's chunker refuses chunks above 1 MiB (ChunkSizeLimit), so one block holds at most this.
MAX_BLOCK_BYTES = 1024 * 1024


class IpfsContentStore:
    """A kubo node as a `ContentStore`; one pooled HTTP session per store.

    Parameters
    ----------
    api_url
        Base URL of the kubo RPC API, e.g. ``http://127.0.0.1:5001``.
    timeout
        Seconds to wait for each request.
    pin
        Whether added objects are pinned (kept through garbage collection).
    """

    def __init__(self, api_url: str, *, timeout: float = 30.0, pin: bool = True) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.pin = pin
        self._session = requests.Session()

    def _post(self, command: str, params: dict[str, str], **kwargs: Any) -> requests.Response:
        url = f"{self.api_url}/api/v0/{command}"
        try:
            response = guarded(IPFS, self._session.post, url, params=params, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ConnectionError(redact(f"IPFS API at {self.api_url} unreachable: {exc}")) from exc
        return response

    def put(self, data: bytes) -> str:
        """Add `data` as one raw block; returns its CIDv1 (equal to `cid_of(data)`)."""
        if len(data) > MAX_BLOCK_BYTES:
            raise InputError.one(
                "data",
                f"{len(data)} bytes exceed the single-block limit of {MAX_BLOCK_BYTES} bytes "
                "(a bigger file would get a dag-pb root CID, not the raw CID of its bytes)",
            )
        params = {
            "cid-version": "1",
            "raw-leaves": "true",
            "chunker": f"size-{MAX_BLOCK_BYTES}",
            "hash": "sha2-256",
            "pin": "true" if self.pin else "false",
            "quieter": "true",
        }
        response = self._post("add", params, files={"file": ("blob", data, "application/octet-stream")})
        if response.status_code != 200:
            raise ConnectionError(f"IPFS add failed ({response.status_code}): {response.text[:200]}")
        returned = response.json()["Hash"]
        expected = cid_of(data)
        if returned != expected:
            raise IntegrityError(f"IPFS node returned CID {returned} for content whose CID is {expected}")
        return expected

    def get(self, cid: str) -> bytes:
        """The block named `cid`, re-hashed against it before it is returned."""
        parse_cid(cid)
        response = self._post("block/get", {"arg": cid})
        if response.status_code != 200:
            raise IntegrityError(f"content {cid} is not in IPFS at {self.api_url}: {response.text[:200]}")
        data = response.content
        verify_cid(cid, data)
        return data

    def has(self, cid: str) -> bool:
        """Whether the node holds the block locally (no network lookup)."""
        parse_cid(cid)
        response = self._post("block/stat", {"arg": cid, "offline": "true"})
        return response.status_code == 200

    def close(self) -> None:
        self._session.close()

"""Content ids: CIDv1, raw codec, sha2-256 multihash, base32 (the `bafk...` form).

The same bytes give the same CID here, in the local store and in IPFS (kubo with
`cid-version=1`, `raw-leaves=true` for a single-block file), so a CID names content
wherever it is kept.
"""

from __future__ import annotations

import hashlib

from multiformats import CID, multihash

from dalrn_core.errors import InputError, IntegrityError


def cid_of(data: bytes) -> str:
    """The CIDv1 string (raw codec, sha2-256, base32 lower) of `data`."""
    digest = hashlib.sha256(data).digest()
    return str(CID("base32", 1, "raw", multihash.wrap(digest, "sha2-256")))


def parse_cid(cid: str, *, field: str = "cid") -> CID:
    """Decode a CID string, refusing anything but CIDv1 raw sha2-256."""
    try:
        parsed = CID.decode(cid)
    except Exception as exc:  # noqa: BLE001 - multiformats raises many error types for bad text
        raise InputError.one(field, f"not a valid CID ({exc})") from None
    if parsed.version != 1 or parsed.codec.name != "raw" or parsed.hashfun.name != "sha2-256":
        raise InputError.one(field, "must be a CIDv1 with raw codec and sha2-256")
    return parsed


def verify_cid(cid: str, data: bytes) -> None:
    """Raise IntegrityError unless `data` hashes to `cid`."""
    actual = cid_of(data)
    if actual != cid:
        raise IntegrityError(f"content does not match its CID: expected {cid}, got {actual}")

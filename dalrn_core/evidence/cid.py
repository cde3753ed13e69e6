"""Content ids: CIDv1, raw codec, sha2-256 multihash, base32 (the `bafk...` form).

The same bytes give the same CID here, in the local store and in IPFS (kubo with
`cid-version=1`, `raw-leaves=true` for a single-block file), so a CID names content
wherever it is kept.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from multiformats import CID

from dalrn_core.errors import InputError, IntegrityError

# varint(CIDv1) + varint(raw codec 0x55) + multihash header (sha2-256 0x12, 32 bytes). Every
# CID DALRN writes starts so; it is spelled out here because the general multiformats codec
# costs a few hundred microseconds a CID (its runtime type checks), and a dispute handles
# hundreds. tests/evidence/test_cid.py checks both ways against multiformats itself.
_HEADER = bytes([0x01, 0x55, 0x12, 0x20])
_CANONICAL_LENGTH = 59  # "b" + base32 (lower, unpadded) of the 36 bytes above and the digest


def _base32(raw: bytes) -> str:
    return base64.b32encode(raw).decode("ascii").lower().rstrip("=")


def cid_of(data: bytes) -> str:
    """The CIDv1 string (raw codec, sha2-256, base32 lower) of `data`."""
    return "b" + _base32(_HEADER + hashlib.sha256(data).digest())


def _canonical_digest(cid: str) -> bytes | None:
    """The digest of a CID in DALRN's own form (base32 lower CIDv1 raw sha2-256), else None."""
    if len(cid) != _CANONICAL_LENGTH or not cid.startswith("b"):
        return None
    body = cid[1:]
    try:
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_HEADER) or _base32(raw) != body:
        return None
    return raw[len(_HEADER):]


def parse_cid(cid: str, *, field: str = "cid") -> bytes:
    """Check a CID string, refusing anything but CIDv1 raw sha2-256; returns its digest."""
    digest = _canonical_digest(cid)
    if digest is not None:
        return digest
    try:
        parsed = CID.decode(cid)  # another multibase, or not a CID: the general codec says which
    except Exception as exc:  # noqa: BLE001 - multiformats raises many error types for bad text
        raise InputError.one(field, f"not a valid CID ({exc})") from None
    if parsed.version != 1 or parsed.codec.name != "raw" or parsed.hashfun.name != "sha2-256":
        raise InputError.one(field, "must be a CIDv1 with raw codec and sha2-256")
    return bytes(parsed.raw_digest)


def verify_cid(cid: str, data: bytes) -> None:
    """Raise IntegrityError unless `data` hashes to `cid`."""
    actual = cid_of(data)
    if actual != cid:
        raise IntegrityError(f"content does not match its CID: expected {cid}, got {actual}")

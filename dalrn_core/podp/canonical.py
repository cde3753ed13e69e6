"""Canonical JSON (RFC 8785, JCS) and the digests taken over it.

Receipts are hashed and signed over their JCS form, so any verifier in any language that
implements RFC 8785 reproduces the same bytes, digest and CID.
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 canonical serialisation of a JSON value."""
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_of(value: Any) -> str:
    """SHA-256 (hex) of a JSON value's canonical form; bytes are hashed as they are."""
    if isinstance(value, bytes):
        return sha256_hex(value)
    return sha256_hex(canonical_bytes(value))

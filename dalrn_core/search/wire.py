"""Envelopes for encrypted queries and scores: what kind, under which key, how many values.

Layout: 4-byte kind tag, version byte, 32-byte key id (sha256 of the public context),
unsigned 32-bit count (query dimension, or document rows in a score ciphertext), then
SEAL's own ciphertext serialisation. The header is public metadata the server knows
anyway; it lets each side refuse a ciphertext made under another key with a clear message
instead of decrypting noise.
"""

from __future__ import annotations

import struct

from dalrn_core.errors import InputError

QUERY = b"DQRY"
SCORES = b"DSCR"
VERSION = 1
_HEADER = struct.Struct(">4sB32sI")


def pack(kind: bytes, key_id: str, count: int, body: bytes) -> bytes:
    return _HEADER.pack(kind, VERSION, bytes.fromhex(key_id), count) + body


def unpack(kind: bytes, blob: bytes, *, field: str) -> tuple[str, int, bytes]:
    """(key id, count, ciphertext bytes) of an envelope of `kind`; InputError otherwise."""
    if not isinstance(blob, (bytes, bytearray)) or len(blob) <= _HEADER.size:
        raise InputError.one(field, "must be the bytes of an encrypted envelope")
    tag, version, key, count = _HEADER.unpack_from(blob)
    if tag != kind:
        expected = "query" if kind == QUERY else "scores"
        raise InputError.one(field, f"is not an encrypted {expected} envelope")
    if version != VERSION:
        raise InputError.one(field, f"envelope version {version} is not supported")
    return key.hex(), count, bytes(blob[_HEADER.size:])

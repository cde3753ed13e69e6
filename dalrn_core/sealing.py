"""Sealing data at rest under the server's sealing key (AES-256-GCM, bound to its place).

A party's side of a joint dispute (its BATNA and payoffs) is kept sealed: in the gateway's
database, and in the content store where the dispute run reads it by CID. Only a process
holding the sealing key (the gateway and the dispute workers, on the server) can open it,
and the associated data binds each blob to one tenant's dispute and one party, so a sealed
side copied to another dispute or party does not open.

The key is 32 random bytes in the keys folder (`side-sealing.key`, mode 0600), created on
first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dalrn_core.errors import IntegrityError
from dalrn_core.keys import load_or_create
from dalrn_core.podp.canonical import canonical_bytes

if TYPE_CHECKING:
    from dalrn_core.dispute.sides import PartySide

KEY_FILE = "side-sealing.key"
KEY_BYTES = 32
NONCE_BYTES = 12
HEADER = b"dalrn.sealed/1\n"


def sealing_key() -> bytes:
    """The server's sealing key (created on first use, 0600 in the keys folder)."""
    key = load_or_create(KEY_FILE, lambda: AESGCM.generate_key(bit_length=8 * KEY_BYTES))
    if len(key) != KEY_BYTES:
        raise IntegrityError(f"sealing key file {KEY_FILE} holds {len(key)} bytes, expected {KEY_BYTES}")
    return key


def seal(plaintext: bytes, aad: bytes, key: bytes | None = None) -> bytes:
    """HEADER || nonce || AES-GCM(plaintext, aad); a fresh random nonce each time."""
    nonce = os.urandom(NONCE_BYTES)
    return HEADER + nonce + AESGCM(key or sealing_key()).encrypt(nonce, plaintext, aad)


def unseal(blob: bytes, aad: bytes, key: bytes | None = None) -> bytes:
    """The plaintext of `blob`; IntegrityError if it is not sealed for `aad` under the key."""
    if not blob.startswith(HEADER) or len(blob) < len(HEADER) + NONCE_BYTES + 16:
        raise IntegrityError("not a sealed blob (header or length wrong)")
    body = blob[len(HEADER):]
    try:
        return AESGCM(key or sealing_key()).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], aad)
    except InvalidTag:
        raise IntegrityError("sealed blob does not open: another key, another place, or altered") from None


def side_aad(tenant: str, dispute_id: str, party: str) -> bytes:
    """What a sealed side is bound to: the submitting tenant's dispute and the party."""
    return canonical_bytes({"purpose": "dalrn.side/1", "tenant": tenant, "dispute": dispute_id,
                            "party": party})


def seal_side(side: PartySide, tenant: str, dispute_id: str, key: bytes | None = None) -> bytes:
    """The side's canonical JSON, sealed for (tenant, dispute, its party)."""
    return seal(canonical_bytes(side.model_dump(mode="json")), side_aad(tenant, dispute_id, side.party), key)


def unseal_side(blob: bytes, tenant: str, dispute_id: str, party: str,
                key: bytes | None = None) -> PartySide:
    """The side sealed for (tenant, dispute, party), checked against its own commitment."""
    import json

    from dalrn_core.dispute.sides import parse_side, verify_commitment

    side = parse_side(json.loads(unseal(blob, side_aad(tenant, dispute_id, party), key)))
    if side.party != party or not verify_commitment(side):
        raise IntegrityError(f"sealed side of party {party!r} does not hold to its commitment")
    return side

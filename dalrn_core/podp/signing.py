"""Ed25519 signing of receipts (RFC 8032, via libsodium).

The signer's key is a 32-byte seed kept in a key file outside the repository (or handed in
from a Prefect Secret block); receipts carry only the public key.
"""

from __future__ import annotations

import base64

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from dalrn_core.errors import IntegrityError
from dalrn_core.keys import keys_dir, load_or_create

RECEIPT_KEY_FILE = "podp-ed25519.seed"


class ReceiptSigner:
    """Signs bytes with an Ed25519 key; `public_key` is the hex a verifier trusts."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = SigningKey(seed)

    @classmethod
    def from_key_file(cls, name: str = RECEIPT_KEY_FILE) -> ReceiptSigner:
        return cls(load_or_create(name, lambda: bytes(SigningKey.generate())))

    @staticmethod
    def public_key_from_file(name: str = RECEIPT_KEY_FILE) -> str:
        """The public key of an existing signing key file; never creates one to trust."""
        path = keys_dir() / name
        if not path.exists():
            raise IntegrityError(f"no receipt-signing key {name} in {keys_dir()}: verify a public "
                                 "proof with the operator's published keys instead")
        return SigningKey(path.read_bytes()).verify_key.encode().hex()

    @property
    def public_key(self) -> str:
        return self._key.verify_key.encode().hex()

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message).signature).decode()


def signature_valid(public_key_hex: str, message: bytes, signature_b64: str) -> bool:
    """Whether `signature_b64` is a valid Ed25519 signature of `message` by the key."""
    try:
        VerifyKey(bytes.fromhex(public_key_hex)).verify(message, base64.b64decode(signature_b64))
    except (BadSignatureError, ValueError):
        return False
    return True

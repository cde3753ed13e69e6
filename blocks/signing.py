"""The receipt signing key: a Prefect Secret block in production, a key file by default."""

from __future__ import annotations

from prefect.blocks.system import Secret

from dalrn_core.podp.signing import ReceiptSigner


def receipt_signer(secret_block: str | None = None) -> ReceiptSigner:
    """The signer from a Secret block holding the hex seed, or from the default key file."""
    if secret_block:
        return ReceiptSigner(bytes.fromhex(Secret.load(secret_block).get()))
    return ReceiptSigner.from_key_file()

"""Proof-of-due-process receipts: one signed, hash-chained receipt per step.

A receipt's body holds its receipt chain's id (`chain_id`: a dispute's chain, a federated
night's, a rewiring run's), the step, its sequence number, the CID of the previous receipt,
SHA-256 digests of the step's inputs, its parameters, the CIDs of its outputs, a UTC
timestamp and the signer's Ed25519 public key. The signature covers the body's RFC 8785
form; the receipt (body plus signature) is addressed by the CIDv1 of its RFC 8785 form.

Version 1 receipts named the chain id `dispute_id`; they still verify, and a chain begun
with them continues with version 2 receipts.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.cid import cid_of
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.signing import ReceiptSigner, signature_valid

RECEIPT_VERSION = "dalrn.podp.receipt/2"
# Where each receipt version keeps its chain id (version 1 called it "dispute_id").
CHAIN_ID_FIELD = {"dalrn.podp.receipt/1": "dispute_id", RECEIPT_VERSION: "chain_id"}
Receipt = dict[str, Any]  # a receipt's JSON object: its body fields plus "signature"


def receipt_cid(receipt: Receipt) -> str:
    return cid_of(canonical_bytes(receipt))


def receipt_leaf(receipt: Receipt) -> bytes:
    """The 32-byte Merkle leaf of a receipt: the SHA-256 digest inside its CID."""
    return hashlib.sha256(canonical_bytes(receipt)).digest()


def _body(receipt: Receipt) -> dict[str, Any]:
    return {k: v for k, v in receipt.items() if k != "signature"}


def receipt_chain_id(receipt: Receipt) -> object:
    """The chain id a receipt names, under its version's field (None if it names none)."""
    return receipt.get(CHAIN_ID_FIELD.get(str(receipt.get("version")), "chain_id"))


class ReceiptChain:
    """Builds one receipt chain (a dispute's, or a scheduled run's)."""

    def __init__(self, chain_id: str, signer: ReceiptSigner, receipts: list[Receipt] | None = None):
        self.chain_id = chain_id
        self.signer = signer
        self.receipts: list[Receipt] = list(receipts or [])

    @property
    def head_cid(self) -> str | None:
        return receipt_cid(self.receipts[-1]) if self.receipts else None

    def add(
        self,
        step: str,
        *,
        inputs: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> Receipt:
        """Append a signed receipt for `step`; inputs are digests, outputs CIDs or values."""
        seq = len(self.receipts)
        body = {
            "version": RECEIPT_VERSION,
            "receipt_id": f"{self.chain_id}/{seq:03d}-{step}",
            "chain_id": self.chain_id,
            "step": step,
            "seq": seq,
            "prev": self.head_cid,
            "inputs": dict(inputs or {}),
            "params": dict(params or {}),
            "outputs": dict(outputs or {}),
            "timestamp": (timestamp or datetime.now(UTC)).isoformat(timespec="microseconds"),
            "signer": self.signer.public_key,
        }
        receipt = {**body, "signature": self.signer.sign(canonical_bytes(body))}
        self.receipts.append(receipt)
        return receipt


def verify_chain(
    receipts: list[Receipt],
    *,
    chain_id: str,
    trusted_signers: set[str] | None = None,
    expected_cids: list[str] | None = None,
) -> None:
    """Check a receipt chain; raise IntegrityError naming the first receipt and rule broken.

    Catches an edited receipt (signature or CID), a reordering or insertion (sequence and
    `prev` links), a deletion (a gap in `seq` or a broken link, or a shorter list than
    `expected_cids`) and an untrusted signer.
    """
    if not receipts:
        raise IntegrityError(f"receipt chain {chain_id}: no receipts")
    if expected_cids is not None and len(expected_cids) != len(receipts):
        raise IntegrityError(
            f"receipt chain {chain_id}: {len(receipts)} receipts, the record lists {len(expected_cids)}"
        )
    previous_cid = None
    for position, receipt in enumerate(receipts):
        name = receipt.get("receipt_id", f"#{position}")
        if receipt.get("version") not in CHAIN_ID_FIELD:
            raise IntegrityError(f"receipt {name}: unknown version {receipt.get('version')!r}")
        if receipt_chain_id(receipt) != chain_id:
            raise IntegrityError(f"receipt {name}: belongs to receipt chain {receipt_chain_id(receipt)!r}")
        if receipt.get("seq") != position:
            raise IntegrityError(f"receipt {name}: sequence {receipt.get('seq')} at position {position}")
        if receipt.get("prev") != previous_cid:
            raise IntegrityError(f"receipt {name}: 'prev' does not link to the previous receipt")
        signer = receipt.get("signer", "")
        if trusted_signers is not None and signer not in trusted_signers:
            raise IntegrityError(f"receipt {name}: signer {signer[:16]}... is not trusted")
        if not signature_valid(signer, canonical_bytes(_body(receipt)), receipt.get("signature", "")):
            raise IntegrityError(f"receipt {name}: signature does not match its content")
        cid = receipt_cid(receipt)
        if expected_cids is not None and expected_cids[position] != cid:
            raise IntegrityError(f"receipt {name}: CID {cid} differs from the recorded {expected_cids[position]}")
        previous_cid = cid

"""Third-party verification of one dispute: receipts, memo, Merkle proof, root on chain.

Each check either passes with a line saying what held, or raises IntegrityError naming
the first thing that failed. A missing or edited file in the content store fails its CID
check, so tampering with any stored receipt, memo, manifest or proof is caught.
"""

from __future__ import annotations

import json

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import load_record
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.merkle import merkle_root, verify_proof
from dalrn_core.podp.receipts import receipt_leaf, verify_chain
from dalrn_core.podp.signing import ReceiptSigner


def _hex(value: str) -> bytes:
    return bytes.fromhex(value.removeprefix("0x"))


def verify_dispute(dispute_id: str) -> list[str]:
    """Verify everything recorded for `dispute_id`; returns what held, raises on a failure."""
    record = load_record(dispute_id)
    store = LocalContentStore()
    held = []
    cids = record.get("receipts", [])
    receipts = [json.loads(store.get(cid)) for cid in cids]
    trusted = {ReceiptSigner.from_key_file().public_key}
    verify_chain(receipts, dispute_id=dispute_id, trusted_signers=trusted, expected_cids=cids)
    held.append(f"{len(receipts)} receipts: signatures valid, hash chain unbroken, CIDs match")

    for receipt in receipts:
        for name in ("memo_cid", "memo_markdown_cid", "diagram_cid"):
            if name in receipt["outputs"]:
                store.get(receipt["outputs"][name])
    held.append("memo, Markdown memo and diagram match their CIDs")

    anchor = record.get("anchor")
    if not anchor:
        raise IntegrityError(f"dispute {dispute_id}: anchor pending (no batch has anchored it yet)")
    if anchor["leaf_receipt_cid"] not in cids:
        raise IntegrityError(f"dispute {dispute_id}: the anchored receipt is not in its chain")
    leaf_receipt = receipts[cids.index(anchor["leaf_receipt_cid"])]
    leaf, root = _hex(anchor["leaf"]), _hex(anchor["root"])
    if receipt_leaf(leaf_receipt) != leaf:
        raise IntegrityError(f"dispute {dispute_id}: Merkle leaf does not match receipt {leaf_receipt['receipt_id']}")
    manifest = json.loads(store.get(anchor["manifest_cid"]))
    if merkle_root([_hex(e["leaf"]) for e in manifest["leaves"]]) != root:
        raise IntegrityError(f"dispute {dispute_id}: batch manifest does not rebuild the anchored root")
    proof = [_hex(p) for p in anchor["proof"]]
    if not verify_proof(leaf, proof, root):
        raise IntegrityError(f"dispute {dispute_id}: Merkle proof does not lead to root {anchor['root']}")
    held.append(f"Merkle proof ({len(proof)} siblings) leads to root {anchor['root']}")

    client = open_embedded_anchor()
    if not client.is_anchored(root):
        raise IntegrityError(f"dispute {dispute_id}: root {anchor['root']} is not anchored on chain {client.w3.eth.chain_id}")
    if not client.verify_receipt(leaf, proof, root):
        raise IntegrityError(f"dispute {dispute_id}: the contract rejects the inclusion proof")
    held.append(f"root anchored on chain {client.w3.eth.chain_id} at {client.address}; contract accepts the proof")
    return held

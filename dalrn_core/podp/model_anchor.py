"""Anchoring a federated round: the run's receipt chain with the global model's hash and
round number, in the contract's own fields, so anyone can check which model a night
produced and that its receipts existed then."""

from __future__ import annotations

from dataclasses import asdict

from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.dispute.records import STATUS_ANCHORED, update_record
from dalrn_core.errors import InputError
from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.ledger import load_receipts, receipt_cids
from dalrn_core.podp.merkle import merkle_root
from dalrn_core.podp.receipts import receipt_leaf


def anchor_model_round(client: AnchorClient, store: ContentStore, chain_id: str, model_hash: str,
                       fl_round: int) -> dict:
    """Anchor the head of `chain_id`'s receipts as a one-leaf batch carrying the model."""
    if len(model_hash) != 64:
        raise InputError.one("model_hash", "must be a SHA-256 digest in hex (64 characters)")
    if fl_round < 1:
        raise InputError.one("fl_round", "must be a positive round number")
    head = load_receipts(chain_id, store)[-1]
    leaf = receipt_leaf(head)
    root = merkle_root([leaf])
    manifest = {"version": "dalrn.podp.batch/1", "root": "0x" + root.hex(), "model_hash": model_hash,
                "fl_round": fl_round, "leaves": [{"dispute_id": chain_id, "leaf": leaf.hex(),
                                                  "receipt_cid": receipt_cids(chain_id)[-1]}]}
    manifest_cid = store.put(canonical_bytes(manifest))
    result = client.anchor_root(root, 1, f"ipfs://{manifest_cid}", bytes.fromhex(model_hash), fl_round)
    anchor = {**asdict(result), "manifest_cid": manifest_cid, "leaf": "0x" + leaf.hex(),
              "leaf_receipt_cid": receipt_cids(chain_id)[-1], "proof": [],
              "model_hash": model_hash, "fl_round": fl_round}
    update_record(chain_id, status=STATUS_ANCHORED, anchor=anchor)
    return anchor

"""The scheduled anchor-batches flow takes every dispute left `anchor pending`."""

from __future__ import annotations

from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import pending, queue_leaf
from dalrn_core.podp.ledger import append_receipt, load_receipts, receipt_cids
from dalrn_core.podp.receipts import receipt_leaf
from dalrn_core.podp.signing import ReceiptSigner
from dalrn_core.podp.verify import verify_dispute


def test_pending_disputes_are_anchored_in_one_batch(harness):
    from flows.anchor_batches import anchor_batches

    store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
    ids = [f"pending-{i}" for i in range(3)]
    for dispute_id in ids:
        append_receipt(dispute_id, "intake", store, signer, outputs={"n": dispute_id})
        queue_leaf(dispute_id, receipt_leaf(load_receipts(dispute_id, store)[-1]), receipt_cids(dispute_id)[-1])
    result = anchor_batches()
    assert set(ids) <= set(result["batch"]["chains"]) and pending() == []
    for dispute_id in ids:
        assert verify_dispute(dispute_id)
    assert anchor_batches()["batch"] is None  # nothing left: no empty transaction

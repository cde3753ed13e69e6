"""Anchor: queue the dispute's receipt chain head, anchor the pending batch on chain."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.chain import anchor_client
from blocks.evidence_store import content_store
from dalrn_core.dispute.records import load_record
from dalrn_core.podp.batch import anchor_pending, queue_leaf
from dalrn_core.podp.ledger import load_receipts, receipt_cids
from dalrn_core.podp.receipts import receipt_leaf


@task(name="anchor", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
def anchor_dispute(dispute_id: str) -> dict:
    """Anchor the batch that holds this dispute's current receipt head; returns the anchor."""
    store = content_store()
    head = load_receipts(dispute_id, store)[-1]
    queue_leaf(dispute_id, receipt_leaf(head), receipt_cids(dispute_id)[-1])
    batch = anchor_pending(anchor_client(), store)
    if batch is None:  # another run anchored our leaf in its batch a moment ago
        return load_record(dispute_id)["anchor"]
    return batch

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
from dalrn_core.podp.reorg import recheck_anchors


@task(name="anchor", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[2, 5, 15])
def anchor_dispute(dispute_id: str, chain_block: str | None = None) -> dict:
    """Anchor the batch that holds this dispute's current receipt head; returns the anchor."""
    store = content_store()
    head = load_receipts(dispute_id, store)[-1]
    queue_leaf(dispute_id, receipt_leaf(head), receipt_cids(dispute_id)[-1])
    client = anchor_client(chain_block)
    for _ in range(2):  # a batch left in flight by a failed run goes first, then ours
        batch = anchor_pending(client, store)
        if batch is None:  # another run anchored our leaf in its batch a moment ago
            return load_record(dispute_id)["anchor"]
        if dispute_id in batch["disputes"]:
            return batch
    return load_record(dispute_id)["anchor"]


@task(name="anchor-pending-batch", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[5, 30, 120])
def anchor_pending_batch(chain_block: str | None = None) -> dict | None:
    """Anchor every dispute still `anchor pending` in one transaction (a time-window batch)."""
    return anchor_pending(anchor_client(chain_block), content_store())


@task(name="recheck-anchors", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60])
def recheck_anchor_batches(chain_block: str | None = None) -> list[dict]:
    """Re-anchor any batch whose transaction a reorg dropped; returns the repaired batches."""
    return recheck_anchors(anchor_client(chain_block), content_store())

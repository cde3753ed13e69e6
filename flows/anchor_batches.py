"""Anchor what is still pending, in one transaction, and repair what a reorg dropped.

Disputes whose anchoring failed stay `anchor pending`; this scheduled flow takes them all
in the next batch, then re-checks anchored batches and re-anchors any that a reorg removed.
"""

from __future__ import annotations

from prefect import flow

from tasks.anchor import anchor_pending_batch, recheck_anchor_batches


@flow(name="anchor_batches", log_prints=True)
def anchor_batches(chain_block: str | None = None) -> dict:
    """Anchor every pending dispute in one batch; re-anchor batches a reorg dropped."""
    batch = anchor_pending_batch(chain_block)
    repaired = recheck_anchor_batches(chain_block)
    print(f"anchored {len(batch['chains']) if batch else 0} pending, repaired {len(repaired)} batches")
    return {"batch": batch, "repaired": repaired}


if __name__ == "__main__":
    anchor_batches()

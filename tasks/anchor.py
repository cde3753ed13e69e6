"""Anchor: a receipt chain's head in the next batch on chain (retrying, else left pending)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from blocks.chain import anchor_client
from blocks.evidence_store import content_store
from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.chain.multichain import FallbackAnchorClient
from dalrn_core.errors import InputError
from dalrn_core.podp.anchoring import AnchorOutcome, anchor_chain
from dalrn_core.podp.batch import anchor_pending
from dalrn_core.podp.reorg import recheck_anchors
from dalrn_core.redact import redact


def _client(chain_block: str | None) -> AnchorClient | FallbackAnchorClient:
    """The chain client of `chain_block`; a block that cannot be loaded is bad input."""
    try:
        return anchor_client(chain_block)
    except InputError:
        raise
    except ValueError as exc:  # Prefect's answer for a block name it does not hold
        raise InputError.one("chain_block", f"cannot load AnchorChain block {chain_block!r}: "
                                            f"{redact(str(exc))}") from None


@task(name="anchor", cache_policy=NO_CACHE)
def anchor_dispute(chain_id: str, chain_block: str | None = None) -> AnchorOutcome:
    """Anchor the batch holding this chain's receipt head; `anchor_pending` if it cannot yet."""
    return anchor_chain(chain_id, content_store(), lambda: _client(chain_block))


@task(name="anchor-pending-batch", cache_policy=NO_CACHE, retries=3, retry_delay_seconds=[5, 30, 120])
def anchor_pending_batch(chain_block: str | None = None) -> dict | None:
    """Anchor every dispute still `anchor pending` in one transaction (a time-window batch)."""
    return anchor_pending(_client(chain_block), content_store())


@task(name="recheck-anchors", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60])
def recheck_anchor_batches(chain_block: str | None = None) -> list[dict]:
    """Re-anchor any batch whose transaction a reorg dropped; returns the repaired batches."""
    return recheck_anchors(_client(chain_block), content_store())

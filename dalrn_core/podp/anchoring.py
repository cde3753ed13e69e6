"""Anchoring one receipt chain: queue its head, anchor the pending batch, retry, or leave it
pending for the scheduled batch.

A chain's head leaf is queued first, so whatever happens next it is in the next batch. The
anchoring itself is tried a few times with growing pauses (a node restarting, a fee spike);
when every try failed transiently the chain stays `anchor_pending` and the outcome says why
(with any RPC URL in the message redacted, since the outcome is signed into a receipt):
the `anchor_batches` flow takes it in its next time-window batch, so a dispute is resolved
either way and no leaf is lost. A failure that waiting cannot cure (an unknown chain
block, a node serving another chain id, a refused key, a reverted transaction) is raised
at once: the leaf stays queued, and the operator sees the misconfiguration.

A dispute run whose `anchor` receipt is already the chain's head (a run started again after
a crash, the same dispute resolved again) anchors nothing: anchoring that receipt would put
a second leaf of one dispute on chain. The outcome is the one
that receipt recorded, brought up to date from the record when the batch has since been
anchored.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.chain.errors import TRANSIENT_CHAIN_ERRORS
from dalrn_core.dispute.records import load_record
from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.batch import anchor_pending, queue_leaf
from dalrn_core.podp.ledger import load_receipts, receipt_cids
from dalrn_core.podp.receipts import receipt_leaf
from dalrn_core.redact import redacted_error

RETRY_DELAYS_S = (2.0, 5.0, 15.0)


class AnchorOutcome(BaseModel):
    """Where a chain's head stands: anchored under `root` in `tx_hash`, or still pending."""

    model_config = ConfigDict(frozen=True)

    status: Literal["anchored", "anchor_pending"]
    root: str | None = None
    tx_hash: str | None = None
    error: str | None = None
    attempts: int = 1
    record: dict[str, Any] | None = None  # the chain's anchor entry: leaf, proof, manifest

    def receipt_fields(self) -> dict[str, dict[str, Any]]:
        return {"outputs": self.model_dump(mode="json")}


def _anchor_once(chain_id: str, leaf: str, client: AnchorClient, store: ContentStore,
                 attempt: int) -> AnchorOutcome:
    # A batch left in flight by a failed run goes first, then the one holding our leaf;
    # when the pending queue is empty another run anchored our leaf a moment ago.
    for _ in range(2):
        anchor_pending(client, store)
        anchor = load_record(chain_id).get("anchor") or {}
        if anchor.get("leaf") == leaf:
            return AnchorOutcome(status="anchored", root=anchor["root"], tx_hash=anchor.get("tx_hash"),
                                 attempts=attempt, record=anchor)
    raise RuntimeError(f"the receipt head of {chain_id!r} was in none of the batches anchored")


ANCHOR_STEP = "anchor"


def recorded_anchor(chain_id: str, store: ContentStore) -> AnchorOutcome | None:
    """The outcome of this dispute run's anchoring if its `anchor` receipt is the chain's head, else None."""
    receipts = load_receipts(chain_id, store)
    if len(receipts) < 2 or receipts[-1].get("step") != ANCHOR_STEP:
        return None
    written = AnchorOutcome.model_validate(receipts[-1]["outputs"])
    anchored_leaf = "0x" + receipt_leaf(receipts[-2]).hex()  # the head the anchoring queued
    anchor = load_record(chain_id).get("anchor") or {}
    if anchor.get("leaf") == anchored_leaf and anchor.get("root"):
        return AnchorOutcome(status="anchored", root=anchor["root"], tx_hash=anchor.get("tx_hash"),
                             attempts=written.attempts, record=anchor)
    return written


def anchor_chain(
    chain_id: str,
    store: ContentStore,
    connect: Callable[[], AnchorClient],
    *,
    delays: Sequence[float] = RETRY_DELAYS_S,
    sleep: Callable[[float], None] = time.sleep,
) -> AnchorOutcome:
    """Anchor the batch holding `chain_id`'s current receipt head.

    `connect` opens the chain client and is retried with the anchoring, since a node that
    is down fails there first. After ``len(delays) + 1`` transiently failed tries the
    outcome is ``anchor_pending`` with the last error; the head stays queued for the next
    batch. Any other failure propagates. A run whose anchoring is already recorded gets
    that outcome back (`recorded_anchor`) and queues nothing.
    """
    recorded = recorded_anchor(chain_id, store)
    if recorded is not None:
        return recorded
    leaf = receipt_leaf(load_receipts(chain_id, store)[-1])
    queue_leaf(chain_id, leaf, receipt_cids(chain_id)[-1])
    error = ""
    for attempt in range(1, len(delays) + 2):
        try:
            return _anchor_once(chain_id, "0x" + leaf.hex(), connect(), store, attempt)
        # The node, its transport or the fee market failed for now: the leaf is queued and
        # the scheduled batch anchors it, so the dispute's resolution must not fail here.
        except TRANSIENT_CHAIN_ERRORS as exc:
            error = redacted_error(exc)
        if attempt <= len(delays):
            sleep(delays[attempt - 1])
    return AnchorOutcome(status="anchor_pending", error=error, attempts=len(delays) + 1)

"""anchor_chain retries a failing chain, then leaves the chain pending for the next batch."""

from __future__ import annotations

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import load_record
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.anchoring import anchor_chain
from dalrn_core.podp.batch import pending
from dalrn_core.podp.verify import verify_dispute

from .conftest import resolve_disputes


def _down():
    raise ConnectionError("node at 127.0.0.1 refused the connection")


def test_spent_retries_leave_the_chain_pending_then_it_anchors(home):
    (chain_id,) = resolve_disputes(1, prefix="retry")
    store, slept = LocalContentStore(), []
    outcome = anchor_chain(chain_id, store, _down, delays=(2.0, 5.0), sleep=slept.append)
    assert outcome.status == "anchor_pending" and outcome.root is None and outcome.tx_hash is None
    assert outcome.attempts == 3 and slept == [2.0, 5.0]
    assert outcome.error == "ConnectionError: node at 127.0.0.1 refused the connection"
    assert [e["chain_id"] for e in pending()] == [chain_id]  # still queued, not lost

    client = open_embedded_anchor()
    outcome = anchor_chain(chain_id, store, lambda: client, sleep=slept.append)
    assert outcome.status == "anchored" and outcome.attempts == 1 and slept == [2.0, 5.0]
    assert outcome.root == load_record(chain_id)["anchor"]["root"]
    assert client.is_anchored(bytes.fromhex(outcome.root[2:]))
    assert pending() == [] and verify_dispute(chain_id)


def test_a_node_back_after_two_failures_anchors_on_the_third_try(home):
    (chain_id,) = resolve_disputes(1, prefix="flaky")
    client, calls = open_embedded_anchor(), []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TimeoutError("no block in 120 s")
        return client

    outcome = anchor_chain(chain_id, LocalContentStore(), flaky, sleep=lambda s: None)
    assert outcome.status == "anchored" and outcome.attempts == 3 and len(calls) == 3
    assert outcome.record["leaf"] == load_record(chain_id)["anchor"]["leaf"]
    assert verify_dispute(chain_id)

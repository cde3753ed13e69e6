"""anchor_chain retries a failing chain, then leaves the chain pending for the next batch."""

from __future__ import annotations

import json

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


def test_a_run_started_again_after_its_batch_anchored_puts_its_leaf_under_no_second_root(home):
    """Killed after the batch holding its head was anchored and before its `anchor` receipt,
    the run starts again with the same head while another dispute's leaf is pending: it gets
    the recorded anchor, and the next batch holds the other leaf alone (with the head too,
    its root would differ and the head would sit under two roots)."""
    from collections import Counter

    from dalrn_core.podp.batch import anchor_pending, queue_leaf
    from dalrn_core.podp.ledger import load_receipts, receipt_cids
    from dalrn_core.podp.receipts import receipt_leaf

    (chain_id,) = resolve_disputes(1, prefix="again")
    store, client = LocalContentStore(), open_embedded_anchor()
    first = anchor_chain(chain_id, store, lambda: client, delays=())
    (other,) = resolve_disputes(1, prefix="other")  # pending when the run starts again

    again = anchor_chain(chain_id, store, lambda: client, delays=())  # no anchor receipt was written
    assert (again.status, again.root, again.tx_hash) == ("anchored", first.root, first.tx_hash)
    assert pending() == [] and load_record(other)["anchor"]["root"] != first.root
    # A head queued again anyway (a stale entry) is dropped by the next batch, not anchored.
    head = load_receipts(chain_id, store)[-1]
    queue_leaf(chain_id, receipt_leaf(head), receipt_cids(chain_id)[-1])
    assert pending() == [] and anchor_pending(client, store) is None
    events = client.contract.events.RootAnchored().get_logs(from_block=0)
    per_chain = Counter(leaf["chain_id"] for event in events for leaf in
                        json.loads(store.get(event["args"]["manifestUri"].removeprefix("ipfs://")))["leaves"])
    assert per_chain == {chain_id: 1, other: 1}
    assert load_record(chain_id)["anchor"]["root"] == first.root and verify_dispute(chain_id) and verify_dispute(other)

"""Receipts appended to disputes while their batch finishes: a thousand times, nothing dropped.

An appender (a thread, as a dispute's steps are) signs the next receipt of one of a few
disputes and queues its head; a batcher thread anchors whatever is pending, in a loop, on
the embedded chain. Right after each queueing, under the chain's lock, the new head must
be either the chain's pending leaf or the leaf its record says was anchored: there is no
moment where it is in neither. At the end one more batch anchors what is left, and every
leaf that was anchored is under exactly one root, every root on chain once, every head
anchored, and each chain verifies.

A second test makes the overlap certain instead of likely: the anchoring itself (between
the batch's tree and its proofs) appends a receipt to a chain of the batch and queues it.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter

import pytest

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import STATUS_ANCHOR_PENDING, load_record, update_record
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import _pending_dir, anchor_pending, pending, queue_leaf
from dalrn_core.podp.ledger import append_receipt, chain_lock, load_receipts, receipt_cids
from dalrn_core.podp.receipts import receipt_leaf
from dalrn_core.podp.signing import ReceiptSigner
from dalrn_core.podp.verify import verify_dispute

from .conftest import anchored_roots

CHAINS = 20


def _append_and_queue(chain_id: str, step: str, store: LocalContentStore, signer: ReceiptSigner) -> str:
    """What a dispute's stage and its anchor task do: sign the next receipt, queue the head."""
    append_receipt(chain_id, step, store, signer, outputs={"step": step})
    leaf = receipt_leaf(load_receipts(chain_id, store)[-1]).hex()
    queue_leaf(chain_id, bytes.fromhex(leaf), receipt_cids(chain_id)[-1])
    return leaf


def _where_is(chain_id: str, leaf: str) -> set[str]:
    """Where `leaf` stands now, read under the chain's lock (the state a batch leaves whole)."""
    with chain_lock(chain_id):
        places = set()
        path = _pending_dir() / f"{chain_id}.json"
        if path.exists() and json.loads(path.read_text())["leaf"] == leaf:
            places.add("pending")
        if (load_record(chain_id).get("anchor") or {}).get("leaf") == "0x" + leaf:
            places.add("anchored")
        return places


# A thousand appends take minutes on a shared machine (each batch is a real EVM transaction,
# each append several fsyncs): the slow suite runs them, `make test` a hundred and fifty.
@pytest.mark.parametrize("appends", [pytest.param(1000, marks=pytest.mark.slow), 150])
def test_a_thousand_appends_during_batches_drop_nothing(home, appends):
    store, signer, client = LocalContentStore(), ReceiptSigner.from_key_file(), open_embedded_anchor()
    chains = [f"race-{i:02d}" for i in range(CHAINS)]
    for chain_id in chains:
        update_record(chain_id, status=STATUS_ANCHOR_PENDING)
    batches: list[dict] = []
    done, failures = threading.Event(), []

    def batcher() -> None:
        try:
            while not done.is_set():
                batch = anchor_pending(client, store)
                if batch:
                    batches.append(batch)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=batcher, daemon=True)
    thread.start()
    rng, queued, lost = random.Random(14), {c: [] for c in chains}, []
    try:
        for n in range(appends):
            chain_id = rng.choice(chains)
            leaf = _append_and_queue(chain_id, f"step-{n}", store, signer)
            queued[chain_id].append(leaf)
            if not _where_is(chain_id, leaf):
                lost.append((n, chain_id))
            assert not failures, failures
    finally:
        done.set()
        thread.join(timeout=60)
    assert not thread.is_alive() and not failures, failures
    assert lost == [], f"heads neither pending nor anchored right after queueing: {lost[:5]}"
    final = anchor_pending(client, store)
    if final:
        batches.append(final)
    assert pending() == []
    assert len(batches) > appends // 50  # the batcher really ran alongside the appends

    # Every leaf anchored sits under exactly one root; every root is on chain, sent once.
    leaf_roots = Counter((leaf["chain_id"], leaf["leaf"]) for b in batches
                         for leaf in json.loads(store.get(b["manifest_cid"]))["leaves"])
    assert max(leaf_roots.values()) == 1
    roots = [b["root"] for b in batches]
    assert len(set(roots)) == len(roots) and anchored_roots(client) == Counter(roots)
    for chain_id in chains:
        anchor = load_record(chain_id)["anchor"]
        assert anchor["leaf"] == "0x" + queued[chain_id][-1], chain_id  # the last head anchored
        assert verify_dispute(chain_id)


class _AppendingDuringAnchor:
    """The embedded client, except that while a root is being anchored a receipt is
    appended to one of its chains and queued (a dispute resolved again at that moment)."""

    def __init__(self, client, during) -> None:
        self._client, self._during = client, during

    def __getattr__(self, name):
        return getattr(self._client, name)

    def anchor_root(self, *args, **kwargs):
        self._during()
        return self._client.anchor_root(*args, **kwargs)


def test_a_receipt_appended_while_its_batch_anchors_goes_to_the_next_batch(home):
    store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
    chains = [f"overlap-{i}" for i in range(3)]
    for chain_id in chains:
        update_record(chain_id, status=STATUS_ANCHOR_PENDING)
        _append_and_queue(chain_id, "intake", store, signer)
    late: list[tuple[str, str]] = []

    def append_meanwhile() -> None:
        chain_id = chains[len(late) % len(chains)]
        late.append((chain_id, _append_and_queue(chain_id, f"late-{len(late)}", store, signer)))

    client = _AppendingDuringAnchor(open_embedded_anchor(), append_meanwhile)
    for _ in range(12):
        batch = anchor_pending(client, store)
        chain_id, leaf = late[-1]
        assert "0x" + leaf != load_record(chain_id)["anchor"]["leaf"]  # not in the batch that was built
        assert json.loads((_pending_dir() / f"{chain_id}.json").read_text())["leaf"] == leaf
        assert batch["chains"]
    # The last late receipts go in a batch of their own, anchored by a plain client.
    assert anchor_pending(open_embedded_anchor(), store)
    assert pending() == []
    for chain_id in chains:
        last = [leaf for c, leaf in late if c == chain_id][-1]
        assert load_record(chain_id)["anchor"]["leaf"] == "0x" + last
        assert verify_dispute(chain_id)

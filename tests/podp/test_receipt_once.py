"""A dispute run writes each receipt once: started again, it gets back what it wrote."""

from __future__ import annotations

import threading

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import load_record, update_record
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.anchoring import anchor_chain
from dalrn_core.podp.batch import anchor_pending, pending
from dalrn_core.podp.ledger import append_receipt_once, current_run, load_receipts, receipt_cids
from dalrn_core.podp.receipts import verify_chain
from dalrn_core.podp.signing import ReceiptSigner
from dalrn_core.podp.trail import Trail
from dalrn_core.podp.verify import verify_dispute

INTAKE = {"inputs": {"dispute": "sha256:" + "a" * 64}, "outputs": {"dispute_cid": "bafy-one"}}


def _steps(chain_id: str, store: LocalContentStore) -> list[str]:
    return [r["step"] for r in load_receipts(chain_id, store)]


def _run(chain_id: str, store, signer, intake=INTAKE, steps=("route", "negotiate", "explain")) -> Trail:
    trail = Trail(store, signer, chain_id, once=True)
    trail.step("intake", **intake)
    for step in steps:
        trail.step(step, outputs={"value": step})
    return trail


def test_a_run_started_again_gets_back_every_receipt_it_wrote(home):
    store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
    first = _run("c-again", store, signer, steps=("route", "negotiate"))  # it died before explain
    assert first.reused == []
    second = _run("c-again", store, signer)
    assert second.reused == ["intake", "route", "negotiate"]  # explain was written now
    assert second.receipts[:3] == first.receipts
    assert _steps("c-again", store) == ["intake", "route", "negotiate", "explain"]
    third = _run("c-again", store, signer)  # after it ended: nothing new at all
    assert third.reused == ["intake", "route", "negotiate", "explain"]
    assert third.receipts == second.receipts == receipt_cids("c-again")
    verify_chain(load_receipts("c-again", store), chain_id="c-again", expected_cids=receipt_cids("c-again"))


def test_a_changed_dispute_begins_a_new_run_of_its_chain(home):
    store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
    _run("c-changed", store, signer)
    changed = {"inputs": {"dispute": "sha256:" + "b" * 64}, "outputs": {"dispute_cid": "bafy-two"}}
    again = _run("c-changed", store, signer, intake=changed)
    assert again.reused == []
    assert _steps("c-changed", store) == ["intake", "route", "negotiate", "explain"] * 2
    assert [r["step"] for r in current_run(load_receipts("c-changed", store))] == \
        ["intake", "route", "negotiate", "explain"]
    # The old intake, committed to again, is not the latest one: a third run of the chain.
    _run("c-changed", store, signer)
    assert _steps("c-changed", store).count("intake") == 3


def test_two_runs_racing_on_one_dispute_write_each_step_once(home):
    store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
    barrier, answers = threading.Barrier(8), []

    def run() -> None:
        barrier.wait(timeout=10)
        for step in ("intake", "route", "explain"):
            fields = INTAKE if step == "intake" else {"outputs": {"value": step}}
            answers.append(append_receipt_once("c-race", step, store, signer, **fields))

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert _steps("c-race", store) == ["intake", "route", "explain"]
    assert sum(written for _, written in answers) == 3 and len(answers) == 24
    assert {cid for cid, _ in answers} == set(receipt_cids("c-race"))


def test_a_recorded_anchoring_is_not_anchored_again(home):
    store, signer, client = LocalContentStore(), ReceiptSigner.from_key_file(), open_embedded_anchor()
    update_record("c-anchor", status="anchor_pending")
    trail = _run("c-anchor", store, signer)
    outcome = anchor_chain("c-anchor", store, lambda: client)
    assert outcome.status == "anchored"
    trail.step("anchor", **outcome.receipt_fields())
    anchored = load_record("c-anchor")["anchor"]

    def refuse():
        raise AssertionError("a recorded anchoring must not reach the chain again")

    again = anchor_chain("c-anchor", store, refuse)  # the run started again after its anchor receipt
    assert (again.status, again.root, again.tx_hash) == ("anchored", outcome.root, outcome.tx_hash)
    assert pending() == [] and load_record("c-anchor")["anchor"] == anchored
    assert _run("c-anchor", store, signer, steps=("route", "negotiate", "explain", "anchor")).reused == \
        ["intake", "route", "negotiate", "explain", "anchor"]
    assert verify_dispute("c-anchor")


def test_a_pending_anchoring_recorded_before_a_crash_is_brought_up_to_date(home):
    store, signer, client = LocalContentStore(), ReceiptSigner.from_key_file(), open_embedded_anchor()
    update_record("c-late", status="anchor_pending")
    _run("c-late", store, signer)

    def down():
        raise ConnectionError("node at 127.0.0.1 refused the connection")

    outcome = anchor_chain("c-late", store, down, delays=(), sleep=lambda s: None)
    assert outcome.status == "anchor_pending"
    Trail(store, signer, "c-late", once=True).step("anchor", **outcome.receipt_fields())
    # The scheduled batch anchors the queued leaf (the explain receipt) ...
    anchor_pending(client, store)
    # ... and the run started again reports it, without queueing its anchor receipt as a leaf.
    again = anchor_chain("c-late", store, down, delays=(), sleep=lambda s: None)
    assert again.status == "anchored" and again.root == load_record("c-late")["anchor"]["root"]
    assert pending() == [] and verify_dispute("c-late")


def test_a_run_that_goes_another_way_reuses_nothing_after_it_and_anchors_its_own_head(home):
    store, signer, client = LocalContentStore(), ReceiptSigner.from_key_file(), open_embedded_anchor()
    update_record("c-other", status="anchor_pending")
    _run("c-other", store, signer)
    first = anchor_chain("c-other", store, lambda: client)
    trail = Trail(store, signer, "c-other", once=True)
    trail.step("intake", **INTAKE)
    trail.step("route", inputs={"query": "sha256:" + "c" * 64}, outputs={"value": "route"})  # another query
    for step in ("negotiate", "explain"):
        trail.step(step, outputs={"value": step})  # the same as before, yet after the turn
    assert trail.reused == ["intake"]
    assert _steps("c-other", store) == ["intake", "route", "negotiate", "explain", "route", "negotiate", "explain"]
    again = anchor_chain("c-other", store, lambda: client)  # its head is its own explain: anchored anew
    assert again.status == "anchored" and again.root != first.root
    assert load_record("c-other")["anchor"]["leaf_receipt_cid"] == receipt_cids("c-other")[-1]
    assert verify_dispute("c-other")

"""A federated round's receipt-chain head anchored through the batch path, with the model."""

from __future__ import annotations

import json

import pytest

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import STATUS_ANCHORED, load_record, save_record
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.canonical import digest_of
from dalrn_core.podp.ledger import append_receipt, load_receipts, receipt_cids
from dalrn_core.podp.merkle import verify_proof
from dalrn_core.podp.model_anchor import anchor_model_round
from dalrn_core.podp.receipts import receipt_leaf
from dalrn_core.podp.signing import ReceiptSigner
from dalrn_core.podp.verify import verify_dispute

from .test_anchor_failure import _unreachable_chain

MODEL = "ab" * 32
CHAIN = "fl-nightly-test"


@pytest.fixture()
def fl_chain(home):
    store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
    append_receipt(CHAIN, "fl_start", store, signer, outputs={"model_hash": "00" * 32, "round": 0})
    append_receipt(CHAIN, "fl_round", store, signer, inputs={"updates": digest_of([1, 2])},
                   outputs={"model_hash": MODEL, "round": 3})
    return store


def _sent(client) -> int:
    return client.w3.eth.get_transaction_count(client.account.address)


def test_anchored_leaf_proves_the_chain_head_and_the_contract_holds_model_and_round(fl_chain):
    client = open_embedded_anchor()
    anchor = anchor_model_round(client, fl_chain, CHAIN, MODEL, 3)
    head = load_receipts(CHAIN, fl_chain)[-1]
    leaf, root = bytes.fromhex(anchor["leaf"][2:]), bytes.fromhex(anchor["root"][2:])
    assert leaf == receipt_leaf(head) and anchor["leaf_receipt_cid"] == receipt_cids(CHAIN)[-1]
    assert verify_proof(leaf, [bytes.fromhex(p[2:]) for p in anchor["proof"]], root)
    assert client.verify_receipt(leaf, [], root)  # one leaf: the root is the leaf itself
    stored, model_hash = client.contract.functions.anchorOf(root).call({"from": client.account.address})
    assert (model_hash.hex(), stored[3], stored[2]) == (MODEL, 3, 1)  # model, round, leaf count
    manifest = json.loads(fl_chain.get(anchor["manifest_cid"]))
    assert (manifest["model_hash"], manifest["fl_round"]) == (MODEL, 3)
    assert manifest["leaves"] == [{"chain_id": CHAIN, "leaf": leaf.hex(),
                                   "receipt_cid": receipt_cids(CHAIN)[-1]}]
    record = load_record(CHAIN)
    assert record["status"] == STATUS_ANCHORED and record["anchor"] == anchor
    assert any("round 3" in line for line in verify_dispute(CHAIN, client=client))


def test_the_same_round_twice_sends_one_transaction(fl_chain):
    client = open_embedded_anchor()
    first = anchor_model_round(client, fl_chain, CHAIN, MODEL, 3)
    sent = _sent(client)
    assert anchor_model_round(client, fl_chain, CHAIN, MODEL, 3) == first
    assert _sent(client) == sent


def test_a_failed_attempt_is_finished_with_the_same_root(fl_chain):
    with pytest.raises(ConnectionError):
        anchor_model_round(_unreachable_chain(), fl_chain, CHAIN, MODEL, 3)
    assert "anchor" not in load_record(CHAIN)
    client = open_embedded_anchor()
    anchor = anchor_model_round(client, fl_chain, CHAIN, MODEL, 3)
    assert anchor["root"] == "0x" + receipt_leaf(load_receipts(CHAIN, fl_chain)[-1]).hex()
    assert client.contract.functions.batchCount().call({"from": client.account.address}) == 1


def test_a_round_mined_before_a_crash_is_recorded_with_its_transaction_not_sent_again(fl_chain):
    client = open_embedded_anchor()
    leaf = receipt_leaf(load_receipts(CHAIN, fl_chain)[-1])  # a batch of one: the root is the leaf
    lost = client.anchor_root(leaf, 1, "ipfs://lost", bytes.fromhex(MODEL), 3)  # then the process died
    sent = _sent(client)
    anchor = anchor_model_round(client, fl_chain, CHAIN, MODEL, 3)
    assert (anchor["tx_hash"], anchor["block_hash"]) == (lost.tx_hash, lost.block_hash) and _sent(client) == sent
    assert any("round 3" in line for line in verify_dispute(CHAIN, client=client))


@pytest.mark.parametrize("field, value", [("model_hash", "cd" * 32), ("fl_round", 4)])
def test_a_tampered_model_or_round_is_caught(fl_chain, field, value):
    client = open_embedded_anchor()
    anchor_model_round(client, fl_chain, CHAIN, MODEL, 3)
    record = load_record(CHAIN)
    record["anchor"][field] = value
    save_record(CHAIN, record)
    with pytest.raises(IntegrityError, match="the contract holds model"):
        verify_dispute(CHAIN, client=client)


def test_a_tampered_head_receipt_is_caught(fl_chain):
    client = open_embedded_anchor()
    anchor_model_round(client, fl_chain, CHAIN, MODEL, 3)
    head = load_receipts(CHAIN, fl_chain)[-1]
    forged = {**head, "outputs": {**head["outputs"], "model_hash": "cd" * 32}}
    assert not client.verify_receipt(receipt_leaf(forged), [], bytes.fromhex(load_record(CHAIN)["anchor"]["root"][2:]))


@pytest.mark.parametrize("model_hash, fl_round, field", [
    ("AB" * 32, 1, "model_hash"), ("ab" * 31, 1, "model_hash"), (MODEL, 0, "fl_round"),
    (MODEL, True, "fl_round")])
def test_bad_input_names_the_field(fl_chain, model_hash, fl_round, field):
    with pytest.raises(InputError) as err:
        anchor_model_round(open_embedded_anchor(), fl_chain, CHAIN, model_hash, fl_round)
    assert err.value.problems[0].field == field

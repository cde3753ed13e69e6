"""64 disputes anchored in one transaction; each verifies on chain and end to end;
tampered proofs of a multi-leaf batch are caught."""

from __future__ import annotations

import json

import pytest

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import load_record, record_path
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import anchor_pending, pending
from dalrn_core.podp.reorg import recheck_anchors
from dalrn_core.podp.verify import verify_dispute

from .conftest import resolve_disputes


def test_64_disputes_in_one_transaction(home):
    ids = resolve_disputes(64)
    client, store = open_embedded_anchor(), LocalContentStore()
    before = client.w3.eth.block_number
    batch = anchor_pending(client, store)
    assert sorted(batch["chains"]) == ids and pending() == []
    assert client.w3.eth.block_number == before + 1  # one block, one transaction
    assert client.contract.functions.batchCount().call({"from": client.account.address}) == 1
    assert len(client.w3.eth.get_block("latest")["transactions"]) == 1
    root = bytes.fromhex(batch["root"][2:])
    for dispute_id in ids:
        anchor = load_record(dispute_id)["anchor"]
        assert anchor["tx_hash"] == batch["tx_hash"] and anchor["root"] == batch["root"]
        leaf = bytes.fromhex(anchor["leaf"][2:])
        proof = [bytes.fromhex(p[2:]) for p in anchor["proof"]]
        assert len(proof) in (6, 7)  # 64 leaves: a full tree of depth 6, OpenZeppelin layout
        assert client.verify_receipt(leaf, proof, root)
        held = verify_dispute(dispute_id, store=store, client=client)
        assert held[-1].startswith(f"root anchored on chain {client.w3.eth.chain_id}")
    assert anchor_pending(client, store) is None  # nothing left, nothing anchored twice
    assert recheck_anchors(client, store) == []  # the transaction is still canonical


@pytest.mark.parametrize("tamper", ["swap_sibling", "drop_sibling", "other_dispute_proof", "flip_bit"])
def test_tampered_proof_in_a_batch_is_caught(home, tamper):
    ids = resolve_disputes(5)
    client, store = open_embedded_anchor(), LocalContentStore()
    anchor_pending(client, store)
    path = record_path(ids[2])
    record = json.loads(path.read_text())
    proof = record["anchor"]["proof"]
    if tamper == "swap_sibling":
        proof[0], proof[1] = proof[1], proof[0]
    elif tamper == "drop_sibling":
        proof.pop()
    elif tamper == "other_dispute_proof":
        record["anchor"]["proof"] = load_record(ids[0])["anchor"]["proof"]
    else:
        proof[0] = proof[0][:-1] + ("1" if proof[0][-1] != "1" else "0")
    path.write_text(json.dumps(record))
    leaf = bytes.fromhex(record["anchor"]["leaf"][2:])
    root = bytes.fromhex(record["anchor"]["root"][2:])
    bad = [bytes.fromhex(p[2:]) for p in record["anchor"]["proof"]]
    assert not client.verify_receipt(leaf, bad, root)
    with pytest.raises(IntegrityError, match=f"receipt chain {ids[2]}: Merkle proof does not lead to root"):
        verify_dispute(ids[2], store=store, client=client)
    verify_dispute(ids[1], store=store, client=client)  # the others in the batch still hold

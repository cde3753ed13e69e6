"""The dispute flow end to end under a Prefect test harness, with the CLI as the tenant."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from dalrn_cli.resolve import resolve_async
from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.parse import load_dispute_file
from dalrn_core.dispute.records import load_record, record_path
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.verify import verify_dispute
from dalrn_core.search.corpus import load_precedents
from dalrn_core.search.tenant_query import query_vector

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"


@pytest.fixture(scope="module")
def resolved(harness, small_index):
    dispute = load_dispute_file(SAMPLE)
    result = asyncio.run(resolve_async(dispute, say=lambda message: None))
    return dispute, result, small_index


def test_settlement_is_the_nsw_equilibrium(resolved):
    # Pure equilibria of the sample game: (cure, relicense) paying (6, 5) and (litigate,
    # contest) paying (2, 3); a mixed one pays (8/3, 13/5). Gains over BATNA (2, 1): the
    # first has Nash welfare 4 * 4 = 16, far above the others.
    _, result, _ = resolved
    settlement = result["settlement"]
    assert settlement["outcome"] == "equilibrium"
    assert settlement["terms"] == {"acme": "accept credit and cure", "globex": "offer credit and relicense"}
    assert settlement["payoffs"] == {"acme": 6.0, "globex": 5.0}
    found = sorted(tuple(round(x, 6) for x in eq["payoffs"]) for eq in result["negotiation"]["equilibria"])
    assert found == [(2.0, 3.0), (round(8 / 3, 6), 2.6), (6.0, 5.0)]


def test_root_is_anchored_and_the_contract_confirms_it(resolved):
    dispute, result, _ = resolved
    record = load_record(dispute.id)
    anchor = record["anchor"]
    assert anchor["root"] == result["merkle_root"] and anchor["tx_hash"] == result["tx_hash"]
    client = open_embedded_anchor()
    root, leaf = bytes.fromhex(anchor["root"][2:]), bytes.fromhex(anchor["leaf"][2:])
    assert client.is_anchored(root)
    assert client.verify_receipt(leaf, [bytes.fromhex(p[2:]) for p in anchor["proof"]], root)
    steps = [json.loads(LocalContentStore().get(cid))["step"] for cid in record["receipts"]]
    assert steps[-8:] == [
        "intake", "route", "embed", "encrypted_search", "precedents", "negotiate", "explain", "anchor"]
    assert verify_dispute(dispute.id)


def test_revealed_precedents_equal_plaintext_ranking(resolved):
    # The tenant decrypted the server's CKKS scores; its top 5 must be the plaintext top 5.
    dispute, result, index = resolved
    memo = json.loads(LocalContentStore().get(result["memo_cid"]))
    revealed = [p["precedent_id"] for p in memo["precedents"]]
    plain = index.vectors @ query_vector([d.text for d in dispute.evidence])
    expected = [index.ids[i] for i in np.argsort(-plain, kind="stable")[:5]]
    assert revealed == expected
    scores = {p["precedent_id"]: p["score"] for p in memo["precedents"]}
    for pid in expected:
        assert abs(scores[pid] - plain[index.ids.index(pid)]) < 1e-3


def test_memo_and_receipt_name_exactly_the_revealed_precedents(resolved):
    # The tenant's reveal is the only source of precedents: the flow's result, the memo
    # and the signed "precedents" receipt all name the same ones, in the same order, and
    # each receipt CID holds that precedent's corpus text.
    dispute, result, _ = resolved
    store = LocalContentStore()
    memo = json.loads(store.get(result["memo_cid"]))
    receipts = {r["step"]: r for r in (json.loads(store.get(c)) for c in load_record(dispute.id)["receipts"])}
    assert result["precedents"] == [p["precedent_id"] for p in memo["precedents"]]
    assert receipts["precedents"]["outputs"]["revealed"] == [p["cid"] for p in memo["precedents"]]
    texts = load_precedents().set_index("precedent_id").text
    for hit in memo["precedents"]:
        assert store.get(hit["cid"]).decode() == texts[hit["precedent_id"]]
    # each evidence's closest precedents are among the revealed ones, never others
    for doc in memo["evidence"]:
        assert {c["precedent_id"] for c in doc["closest_precedents"]} <= set(result["precedents"])
    assert receipts["explain"]["outputs"]["memo_cid"] == result["memo_cid"]
    assert receipts["anchor"]["outputs"]["status"] == "anchored"
    assert set(result["stage_seconds"]) == {
        "intake", "route", "embed", "encrypted_search", "precedents", "negotiate", "explain", "anchor"}


def test_tampering_with_a_stored_receipt_is_caught(resolved):
    dispute, result, _ = resolved
    store = LocalContentStore()
    cid = result["receipts"][2]
    path = next(store.root.rglob(cid))
    original = path.read_bytes()
    try:
        edited = original.replace(b'"step":"', b'"step":"re', 1)
        assert edited != original
        path.write_bytes(edited)
        with pytest.raises(IntegrityError, match=cid):
            verify_dispute(dispute.id)
    finally:
        path.write_bytes(original)
    verify_dispute(dispute.id)


def test_tampering_with_the_memo_or_proof_is_caught(resolved):
    dispute, result, _ = resolved
    store = LocalContentStore()
    memo_path = next(store.root.rglob(result["memo_cid"]))
    original = memo_path.read_bytes()
    try:
        memo_path.write_bytes(original.replace(b"equilibrium", b"bargaining", 1))
        with pytest.raises(IntegrityError, match=result["memo_cid"]):
            verify_dispute(dispute.id)
    finally:
        memo_path.write_bytes(original)
    path = record_path(dispute.id)
    record_text = path.read_text()
    record = json.loads(record_text)
    try:
        record["anchor"]["leaf"] = "0x" + "cd" * 32
        path.write_text(json.dumps(record))
        with pytest.raises(IntegrityError, match="Merkle leaf does not match"):
            verify_dispute(dispute.id)
    finally:
        path.write_text(record_text)


def test_two_tenants_with_one_dispute_id_get_two_receipt_chains(harness, small_index):
    from prefect.client.orchestration import get_client

    from dalrn_core.dispute.records import chain_key
    from flows.dispute_resolution import dispute_resolution

    dispute = load_dispute_file(SAMPLE).model_dump(mode="json")

    async def resolve_as(tenant: str):
        state = await dispute_resolution(dispute, tenant=tenant, return_state=True)
        async with get_client() as client:  # as another process reads it: the persisted result
            run = await client.read_flow_run(state.state_details.flow_run_id)
        return run, await run.state.aresult()

    (run_a, a), (run_b, b) = asyncio.run(resolve_as("tenant-a")), asyncio.run(resolve_as("tenant-b"))
    assert run_a.name == run_b.name == f"dispute-{dispute['id']}"
    assert a["dispute_id"] == b["dispute_id"] == dispute["id"]
    assert (a["chain_id"], b["chain_id"]) == (chain_key("tenant-a", dispute["id"]),
                                              chain_key("tenant-b", dispute["id"]))
    assert a["chain_id"] != b["chain_id"] and not set(a["receipts"]) & set(b["receipts"])
    store = LocalContentStore()
    for result in (a, b):
        record = load_record(result["chain_id"])
        assert record["receipts"] == result["receipts"]  # a fresh chain: only this run's receipts
        assert {json.loads(store.get(cid))["chain_id"] for cid in record["receipts"]} == {result["chain_id"]}
        assert record["anchor"]["root"] == result["merkle_root"]
        assert verify_dispute(result["chain_id"])
    assert load_record(a["chain_id"])["anchor"]["leaf"] != load_record(b["chain_id"])["anchor"]["leaf"]
    assert record_path(a["chain_id"]).parent != record_path(b["chain_id"]).parent

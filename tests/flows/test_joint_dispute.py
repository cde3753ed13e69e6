"""A joint filing through the dispute flow: each side sealed in the content store, the run's
parameters free of BATNAs and payoffs, the same settlement as the one-sided filing, receipts
and the stored memo carrying only commitments; and a party that never joined."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from dalrn_core.dispute.model import Dispute
from dalrn_core.dispute.records import load_record
from dalrn_core.dispute.sides import split_dispute
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.verify import verify_dispute
from dalrn_core.sealing import seal_side

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"
# Marker BATNAs no other number in the run could equal.
MARKERS = {"acme": 2.031_729, "globex": 1.047_213}


def joint_dispute(dispute_id: str) -> Dispute:
    data = json.loads(SAMPLE.read_text())
    data.update(id=dispute_id, tenant="acme-legal")
    for party, tenant in zip(data["parties"], ("acme-legal", "globex-legal")):
        party.update(tenant=tenant, batna=MARKERS[party["id"]])
    return Dispute.model_validate(data)


async def _run(**parameters):
    from prefect.client.orchestration import get_client

    from flows.dispute_resolution import dispute_resolution

    state = await dispute_resolution(**parameters, return_state=True)
    async with get_client() as client:  # as the gateway reads it, from another process
        run = await client.read_flow_run(state.state_details.flow_run_id)
    return run, await run.state.aresult()


def _sealed(dispute, sides, parties) -> dict[str, str]:
    store = LocalContentStore()
    return {p: store.put(seal_side(sides[p], dispute.tenant, dispute.id)) for p in parties}


def _receipts(chain: str) -> dict[str, dict]:
    store = LocalContentStore()
    return {r["step"]: r for r in (json.loads(store.get(c)) for c in load_record(chain)["receipts"])}


def _no_marker(text: str) -> bool:
    return not any(repr(v)[:7] in text for v in MARKERS.values())


@pytest.mark.timeout(600)
def test_a_joint_filing_settles_as_the_whole_dispute_would(harness, small_index):
    dispute = joint_dispute("joint-flow-001")
    shared, sides = split_dispute(dispute)
    cids = _sealed(dispute, sides, ["acme", "globex"])
    run, result = asyncio.run(_run(dispute=shared.model_dump(mode="json"), tenant="acme-legal", sides=cids))

    assert _no_marker(json.dumps(run.parameters)) and _no_marker(json.dumps(result))
    assert result["settlement"]["outcome"] == "equilibrium"
    assert result["settlement"]["terms"] == {"acme": "accept credit and cure", "globex": "offer credit and relicense"}
    receipts = _receipts(result["chain_id"])
    commitments = {p: s.commitment for p, s in sides.items()}
    assert receipts["intake"]["outputs"]["commitments"] == commitments
    assert verify_dispute(result["chain_id"])
    store = LocalContentStore()
    for cid in (result["memo_cid"], result["memo_markdown_cid"], receipts["intake"]["outputs"]["dispute_cid"]):
        text = store.get(cid).decode()
        assert _no_marker(text) and commitments["globex"] in text
    for receipt in receipts.values():
        assert _no_marker(json.dumps(receipt))
    # Nothing the run persisted in Prefect's result storage holds a BATNA.
    from prefect.settings import get_current_settings

    storage = Path(get_current_settings().results.local_storage_path)
    stored = [f for f in storage.rglob("*") if f.is_file()]
    assert stored and all(_no_marker(f.read_bytes().decode("utf-8", errors="replace")) for f in stored)


@pytest.mark.timeout(600)
def test_a_party_that_never_joined_ends_the_dispute_without_agreement(harness):
    dispute = joint_dispute("joint-flow-lapsed-001")
    shared, sides = split_dispute(dispute)
    cids = _sealed(dispute, sides, ["acme"])
    _, result = asyncio.run(_run(dispute=shared.model_dump(mode="json"), tenant="acme-legal", sides=cids,
                                 absent_parties=["globex"]))
    assert result["settlement"]["outcome"] == "no_agreement"
    steps = [json.loads(LocalContentStore().get(c))["step"] for c in result["receipts"]]
    assert steps == ["intake", "negotiate", "explain", "anchor"]
    negotiate = _receipts(result["chain_id"])["negotiate"]["outputs"]
    assert negotiate["outcome"] == "no_agreement"
    assert negotiate["reason"] == "party globex did not join by 2030-06-30T17:00:00Z"
    memo = LocalContentStore().get(result["memo_markdown_cid"]).decode()
    assert "party globex did not join by 2030-06-30T17:00:00Z" in memo and _no_marker(memo)
    assert result["merkle_root"] and verify_dispute(result["chain_id"])

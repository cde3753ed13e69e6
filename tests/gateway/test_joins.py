"""Joint disputes through the gateway on loopback over a real Prefect server: the opener files
the shared structure and its side, the other party's tenant joins with its own, and only
then a run starts, with sealed sides by CID; the counterparty never reads the other's BATNA
or payoffs; joins are idempotent, refused for the wrong tenant, a bad commitment or a passed
deadline; a party that never joins ends the dispute."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from dalrn_core.dispute.model import Dispute
from dalrn_core.dispute.sides import PartySide, split_dispute
from gateway.db.models import DisputeRow, PartySideRow
from tests.gateway.live_gateway import live_gateway

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())
# Values that appear nowhere but in the side that holds them; four significant digits, so the
# memo's Markdown (which rounds to four) would show them as they are.
ACME = {"batna": 2.047, "payoffs": [[6.031, 1.021], [4.017, 2.013]]}
GLOBEX = {"batna": 1.039, "payoffs": [[5.029, 1.017], [2.011, 3.043]]}
ACME_MARKERS = ["2.047", "6.031", "1.021", "4.017", "2.013"]
GLOBEX_MARKERS = ["1.039", "5.029", "1.017", "2.011", "3.043"]


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    with live_gateway(tmp_path_factory.mktemp("joins")) as served:
        yield served


def call(gw, who: str | None, method: str, path: str, **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if who is not None:
        headers["Authorization"] = f"Bearer {gw['tokens'][who]}"
    return httpx.request(method, gw["url"] + path, headers=headers, timeout=30, **kwargs)


def code(answer: httpx.Response) -> str | None:
    return answer.json()["error"]["code"] if answer.status_code >= 400 else None


def joint_dispute(dispute_id: str, deadline: str = "2030-06-30T17:00:00Z") -> Dispute:
    data = json.loads(json.dumps(SAMPLE))
    data.update(id=dispute_id, tenant="acme", deadline=deadline)
    data["parties"][0].update(tenant="acme", batna=ACME["batna"])
    data["parties"][1].update(tenant="globex", batna=GLOBEX["batna"])
    data["game"].update(row_payoffs=ACME["payoffs"], col_payoffs=GLOBEX["payoffs"])
    return Dispute.model_validate(data)


def open_joint(gw, dispute: Dispute) -> tuple[httpx.Response, dict[str, PartySide]]:
    shared, sides = split_dispute(dispute)
    body = {**shared.model_dump(mode="json", exclude_none=True), "side": sides["acme"].model_dump(mode="json")}
    body.pop("tenant")
    return call(gw, "acme", "POST", "/v1/disputes", json=body), sides


def join(gw, who: str, dispute_id: str, side: PartySide | dict, **params) -> httpx.Response:
    body = side.model_dump(mode="json") if isinstance(side, PartySide) else side
    return call(gw, who, "POST", f"/v1/disputes/{dispute_id}/join", json=body, params=params)


def row_of(gw, dispute_id: str) -> DisputeRow:
    with gw["app"].state.sessions() as s:
        return s.scalars(select(DisputeRow).where(DisputeRow.dispute_id == dispute_id)).one()


def run_parameters(run_id: str) -> dict:
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return (await client.read_flow_run(run_id)).parameters

    return asyncio.run(read())


def test_the_run_starts_only_when_every_party_has_filed_its_own_side(gw):
    opened, sides = open_joint(gw, joint_dispute("joint-gw-001"))
    assert opened.status_code == 202, opened.text
    assert opened.json()["status"] == "awaiting_parties" and opened.json()["links"]["join"].endswith("/join")
    row = row_of(gw, "joint-gw-001")
    assert row.flow_run_id is None and row.parties == ["acme", "globex"]
    assert not any(m in json.dumps(row.body) for m in ACME_MARKERS)
    with gw["app"].state.sessions() as s:
        (stored,) = s.scalars(select(PartySideRow).where(PartySideRow.dispute_row == row.id)).all()
    assert stored.party == "acme" and stored.commitment == sides["acme"].commitment
    assert not any(m.encode() in stored.sealed for m in ACME_MARKERS) and b"Redistribution" not in stored.sealed

    # What globex reads before joining: the structure and acme's commitment, never acme's values.
    seen = [call(gw, "globex", "GET", "/v1/disputes/joint-gw-001"), call(gw, "globex", "GET", "/v1/disputes"),
            call(gw, "globex", "GET", "/v1/disputes/joint-gw-001/join")]
    assert all(a.status_code == 200 for a in seen)
    assert seen[0].json()["status"] == "awaiting_parties"
    view = seen[2].json()
    assert view["waiting_for"] == ["globex"] and view["joined"][0]["commitment"] == sides["acme"].commitment
    assert view["dispute"]["game"]["row_strategies"] == SAMPLE["game"]["row_strategies"]
    assert not any(m in a.text for a in seen for m in ACME_MARKERS) and sides["acme"].salt not in seen[2].text

    joined = join(gw, "globex", "joint-gw-001", sides["globex"], tenant="acme")
    assert joined.status_code == 202, joined.text
    assert joined.json()["status"] == "queued" and joined.json()["waiting_for"] == []
    row = row_of(gw, "joint-gw-001")
    assert row.flow_run_id is not None
    parameters = run_parameters(row.flow_run_id)
    assert set(parameters["sides"]) == {"acme", "globex"} and "absent_parties" not in parameters
    assert not any(m in json.dumps(parameters) for m in ACME_MARKERS + GLOBEX_MARKERS)
    acme_view = call(gw, "acme", "GET", "/v1/disputes/joint-gw-001").text
    assert not any(m in acme_view for m in GLOBEX_MARKERS)

    # The same side again: the same answer, nothing new; another side: refused.
    again = join(gw, "globex", "joint-gw-001", sides["globex"])
    assert again.status_code == 202
    assert {k: again.json()[k] for k in ("dispute_id", "tenant", "party", "commitment")} == \
        {k: joined.json()[k] for k in ("dispute_id", "tenant", "party", "commitment")}
    assert row_of(gw, "joint-gw-001").flow_run_id == row.flow_run_id
    other = PartySide.commit(party="globex", batna=0.5, payoffs=GLOBEX["payoffs"])
    conflict = join(gw, "globex", "joint-gw-001", other)
    assert conflict.status_code == 409 and code(conflict) == "join.conflict"


def test_joins_are_refused_to_the_wrong_tenant_and_for_a_broken_commitment(gw):
    opened, sides = open_joint(gw, joint_dispute("joint-gw-002"))
    assert opened.status_code == 202
    stranger = join(gw, "initech", "joint-gw-002", sides["globex"])
    assert stranger.status_code == 404 and code(stranger) == "dispute.not_found"
    assert code(join(gw, "initech", "joint-gw-002", sides["globex"], tenant="acme")) == "dispute.not_found"
    assert code(call(gw, "initech", "GET", "/v1/disputes/joint-gw-002/join")) == "dispute.not_found"
    not_yours = join(gw, "globex", "joint-gw-002", sides["acme"])
    assert not_yours.status_code == 403 and code(not_yours) == "join.not_your_party"
    tampered = {**sides["globex"].model_dump(mode="json"), "batna": 0.25}
    broken = join(gw, "globex", "joint-gw-002", tampered)
    assert broken.status_code == 422 and code(broken) == "side.commitment_mismatch"
    assert broken.json()["error"]["field"] == "commitment"
    misshapen = PartySide.commit(party="globex", batna=1, payoffs=[[1, 2, 3], [4, 5, 6]])
    shape = join(gw, "globex", "joint-gw-002", misshapen)
    assert shape.status_code == 422 and shape.json()["error"]["field"] == "payoffs[0]"
    assert row_of(gw, "joint-gw-002").status == "awaiting_parties"
    # A one-sided filing has nothing to join.
    whole = {k: v for k, v in SAMPLE.items() if k != "tenant"}
    assert call(gw, "acme", "POST", "/v1/disputes", json={**whole, "id": "one-sided-001"}).status_code == 202
    assert code(join(gw, "globex", "one-sided-001", sides["globex"])) == "dispute.not_found"


def test_a_whole_dispute_naming_another_tenant_is_refused(gw):
    whole = joint_dispute("joint-gw-003").model_dump(mode="json")
    whole.pop("tenant")
    answer = call(gw, "acme", "POST", "/v1/disputes", json=whole)
    assert answer.status_code == 422 and code(answer) == "dispute.joint_needs_sides"
    assert answer.json()["error"]["field"] == "parties[1].tenant"
    _, sides = open_joint(gw, joint_dispute("joint-gw-004"))
    shared = split_dispute(joint_dispute("joint-gw-004"))[0].model_dump(mode="json", exclude_none=True)
    shared.pop("tenant")
    wrong_side = call(gw, "acme", "POST", "/v1/disputes", json={**shared, "id": "joint-gw-005",
                                                                  "side": sides["globex"].model_dump(mode="json")})
    assert wrong_side.status_code == 422 and wrong_side.json()["error"]["field"] == "side.party"
    bad = {**shared, "id": "joint-gw-006", "side": {**sides["acme"].model_dump(mode="json"), "batna": 9.0}}
    answer = call(gw, "acme", "POST", "/v1/disputes", json=bad)
    assert code(answer) == "side.commitment_mismatch" and answer.json()["error"]["field"] == "side.commitment"
    typo = call(gw, "acme", "POST", "/v1/disputes", json={**shared, "id": "joint-gw-007",
                                                            "side": {**sides["acme"].model_dump(mode="json"),
                                                                     "batnaa": 1}})
    assert typo.status_code == 422 and typo.json()["error"]["field"] == "side.batnaa"


def test_a_party_that_does_not_join_by_the_deadline_ends_the_dispute(gw):
    deadline = (datetime.now(UTC) + timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    opened, sides = open_joint(gw, joint_dispute("joint-gw-late-001", deadline=deadline))
    assert opened.status_code == 202, opened.text
    time.sleep(3.5)
    late = join(gw, "globex", "joint-gw-late-001", sides["globex"])
    assert late.status_code == 409 and code(late) == "join.deadline_passed"
    status = call(gw, "acme", "GET", "/v1/disputes/joint-gw-late-001").json()["status"]
    assert status == "queued"  # the run that records no_agreement has started
    row = row_of(gw, "joint-gw-late-001")
    parameters = run_parameters(row.flow_run_id)
    assert parameters["absent_parties"] == ["globex"] and set(parameters["sides"]) == {"acme"}
    assert not any(m in json.dumps(parameters) for m in ACME_MARKERS)
    assert code(join(gw, "globex", "joint-gw-late-001", sides["globex"])) == "join.deadline_passed"


def test_each_party_reads_the_memo_with_only_its_own_values(gw):
    from blocks.evidence_store import content_store
    from dalrn_core.explain.memo import build_memo
    from dalrn_core.explain.party_view import seal_memo
    from dalrn_core.negotiation import settle
    from dalrn_core.podp.canonical import canonical_bytes

    dispute = joint_dispute("joint-gw-memo-001")
    _opened, sides = open_joint(gw, dispute)
    assert join(gw, "globex", "joint-gw-memo-001", sides["globex"]).status_code == 202
    # The memo the run's explain stage stores (the stand-in flow computes nothing).
    result = settle(dispute)
    memo = build_memo(dispute, dispute_cid="cid", evidence_cids={d.id: "cid" for d in dispute.evidence},
                      precedents=[], evidence_relevance={}, negotiation=result, diagram={}, receipts=[])
    stored = seal_memo(memo, dispute, result, {p: s.commitment for p, s in sides.items()})
    memo_cid = content_store(None).put(canonical_bytes(stored))
    with gw["app"].state.sessions() as s:
        row = s.scalars(select(DisputeRow).where(DisputeRow.dispute_id == "joint-gw-memo-001")).one()
        row.status, row.result = "anchored", {"memo_cid": memo_cid, "settlement": stored["settlement"]}
        s.commit()
    acme = call(gw, "acme", "GET", "/v1/disputes/joint-gw-memo-001/memo")
    globex = call(gw, "globex", "GET", "/v1/disputes/joint-gw-memo-001/memo")
    assert acme.status_code == globex.status_code == 200
    assert all(m in acme.text for m in ACME_MARKERS) and not any(m in acme.text for m in GLOBEX_MARKERS)
    assert all(m in globex.text for m in GLOBEX_MARKERS) and not any(m in globex.text for m in ACME_MARKERS)
    assert sides["acme"].commitment in globex.text and sides["globex"].commitment in acme.text
    for who, answer in (("acme", acme), ("globex", globex)):
        view = call(gw, who, "GET", "/v1/disputes/joint-gw-memo-001").text
        other = GLOBEX_MARKERS if who == "acme" else ACME_MARKERS
        assert not any(m in view for m in other)
        assert "accept credit and cure" in answer.json()["memo"]  # the settlement both read


def test_the_reconcile_pass_ends_a_lapsed_dispute_no_one_reads(gw):
    from gateway.joint import reconcile

    deadline = (datetime.now(UTC) + timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    opened, _ = open_joint(gw, joint_dispute("joint-gw-late-002", deadline=deadline))
    assert opened.status_code == 202
    asyncio.run(reconcile(gw["app"].state.sessions, gw["app"].state.runs))  # not due yet
    assert row_of(gw, "joint-gw-late-002").status == "awaiting_parties"
    time.sleep(2.5)
    # (The app's own periodic pass may get there first; either way no read was needed.)
    asyncio.run(reconcile(gw["app"].state.sessions, gw["app"].state.runs))
    row = row_of(gw, "joint-gw-late-002")
    assert row.status == "queued" and run_parameters(row.flow_run_id)["absent_parties"] == ["globex"]
    before = row.flow_run_id
    asyncio.run(reconcile(gw["app"].state.sessions, gw["app"].state.runs))  # nothing twice
    assert row_of(gw, "joint-gw-late-002").flow_run_id == before


def upload(gw, who: str, data: bytes) -> str:
    answer = call(gw, who, "POST", "/v1/content", content=data, headers={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 201, answer.text
    return answer.json()["cid"]


def test_the_opener_files_an_encrypted_precedent_search_checked_strictly_and_the_joiner_none(gw):
    """A joint opening carries the opener's encrypted query (the same checks as a whole
    dispute's), the run gets it with the sealed sides once every party joined, and only the
    opener reads the paused search; a joining side carries no search."""
    import numpy as np

    from dalrn_core.search.ckks_keys import TenantKeys

    keys = TenantKeys.generate()
    vector = np.random.default_rng(3).normal(size=384)
    context = upload(gw, "acme", keys.public_context())
    query = upload(gw, "acme", keys.encrypt_query(vector / np.linalg.norm(vector)))
    theirs = upload(gw, "globex", keys.encrypt_query(vector / np.linalg.norm(vector)))
    dispute = joint_dispute("joint-gw-search-001")
    shared, sides = split_dispute(dispute)
    body = {**shared.model_dump(mode="json", exclude_none=True), "side": sides["acme"].model_dump(mode="json")}
    body.pop("tenant")

    def opening(**search):
        return call(gw, "acme", "POST", "/v1/disputes", json={**body, "precedent_search": search})

    refused = [(opening(context_cid=context, query_cid=theirs, k=3), "precedent_search.unknown_content",
                "precedent_search.query_cid"),
               (opening(context_cid=query, query_cid=query, k=3), "precedent_search.invalid_context",
                "precedent_search.context_cid"),
               (opening(context_cid=context, query_cid=query, k=3, key_id="0" * 64), "precedent_search.key_mismatch",
                "precedent_search.key_id"),
               (opening(context_cid=context, query_cid=query, k=0), "request.invalid", None)]
    for answer, expected, field in refused:
        assert answer.status_code == 422 and code(answer) == expected, answer.text
        if field is not None:
            assert answer.json()["error"]["field"] == field
    assert not call(gw, "acme", "GET", "/v1/disputes").text.count("joint-gw-search-001")  # nothing half written

    opened = opening(context_cid=context, query_cid=query, k=3)
    assert opened.status_code == 202 and opened.json()["status"] == "awaiting_parties", opened.text
    row = row_of(gw, "joint-gw-search-001")
    assert row.precedent_search == {"tenant": "acme", "key_id": keys.key_id, "context_cid": context,
                                    "query_cid": query, "k": 3}
    assert row.flow_run_id is None

    # The joiner's side carries no search of its own: refused, naming the field.
    with_search = {**sides["globex"].model_dump(mode="json"),
                   "precedent_search": {"context_cid": context, "query_cid": query}}
    answer = join(gw, "globex", "joint-gw-search-001", with_search)
    assert answer.status_code == 422 and answer.json()["error"]["field"] == "precedent_search", answer.text
    assert join(gw, "globex", "joint-gw-search-001", sides["globex"]).status_code == 202
    parameters = run_parameters(row_of(gw, "joint-gw-search-001").flow_run_id)
    assert parameters["precedent_search"] == row.precedent_search and set(parameters["sides"]) == {"acme", "globex"}
    assert not any(m in json.dumps(parameters) for m in ACME_MARKERS + GLOBEX_MARKERS)

    # Only the opener holds the secret key: to the joiner the search does not exist.
    assert code(call(gw, "globex", "GET", "/v1/disputes/joint-gw-search-001/search", params={"tenant": "acme"})) \
        == "dispute.not_found"
    not_paused = call(gw, "acme", "GET", "/v1/disputes/joint-gw-search-001/search")
    assert not_paused.status_code == 409 and code(not_paused) == "dispute.not_awaiting_tenant"

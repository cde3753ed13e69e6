"""The disputes API on loopback over a real Prefect server: the role x endpoint matrix,
tenant isolation, idempotency, status from the run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from gateway.db.models import DisputeRow
from tests.gateway.live_gateway import live_gateway

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())
DISPUTE = {k: v for k, v in SAMPLE.items() if k != "tenant"}


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    with live_gateway(tmp_path_factory.mktemp("gateway")) as served:
        yield served


def call(gw, who: str | None, method: str, path: str, **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if who is not None:
        headers["Authorization"] = f"Bearer {gw['tokens'][who]}"
    return httpx.request(method, gw["url"] + path, headers=headers, timeout=30, **kwargs)


def code(answer: httpx.Response) -> str | None:
    return answer.json()["error"]["code"] if answer.status_code >= 400 else None


def _submit(gw, who, dispute, key=None):
    headers = {"Idempotency-Key": key} if key else {}
    return call(gw, who, "POST", "/v1/disputes", json=dispute, headers=headers)


def test_role_by_endpoint_matrix(gw):
    assert _submit(gw, "acme", {**DISPUTE, "id": "matrix-001"}).status_code == 202
    roles = {"party": "acme", "auditor": "auditor-acme", "operator": "operator-1", "admin": "admin-1"}
    d = "/v1/disputes/matrix-001"
    uploaded = call(gw, "acme", "POST", "/v1/content", content=b"matrix bytes",
                    headers={"Content-Type": "application/octet-stream"})
    assert uploaded.status_code == 201
    content = f"/v1/content/{uploaded.json()['cid']}"
    # A joint filing: globex's tenant files its own side; acme, the opener, filed its own.
    from dalrn_core.dispute.model import Dispute
    from dalrn_core.dispute.sides import split_dispute

    both = {**SAMPLE, "id": "matrix-joint-001", "tenant": "acme",
            "parties": [{**SAMPLE["parties"][0], "tenant": "acme"}, {**SAMPLE["parties"][1], "tenant": "globex"}]}
    shared, sides = split_dispute(Dispute.model_validate(both))
    opening = {**shared.model_dump(mode="json", exclude_none=True), "side": sides["acme"].model_dump(mode="json")}
    assert call(gw, "acme", "POST", "/v1/disputes", json=opening).status_code == 202
    j = "/v1/disputes/matrix-joint-001"
    # endpoint -> expected status per role (403: the role lacks the scope)
    matrix = {
        ("POST", "/v1/disputes", "new"): {"party": 202, "auditor": 403, "operator": 403, "admin": 403},
        ("GET", "/v1/disputes", None): {"party": 200, "auditor": 403, "operator": 403, "admin": 403},
        ("GET", d, None): {"party": 200, "auditor": 403, "operator": 403, "admin": 403},
        ("GET", d + "/memo", None): {"party": 409, "auditor": 403, "operator": 403, "admin": 403},
        ("GET", d + "/receipts", None): {"party": 200, "auditor": 200, "operator": 403, "admin": 403},
        ("GET", d + "/search", None): {"party": 409, "auditor": 403, "operator": 403, "admin": 403},
        ("POST", d + "/reveal", "reveal"): {"party": 409, "auditor": 403, "operator": 403, "admin": 403},
        ("GET", j + "/join", None): {"party": 200, "auditor": 403, "operator": 403, "admin": 403},
        ("POST", j + "/join", "side"): {"party": 202, "auditor": 403, "operator": 403, "admin": 403},
        ("POST", "/v1/content", "content"): {"party": 201, "auditor": 403, "operator": 403, "admin": 403},
        ("GET", content, None): {"party": 200, "auditor": 403, "operator": 403, "admin": 403},
        ("GET", "/v1/ops/runs", None): {"party": 403, "auditor": 403, "operator": 200, "admin": 403},
        ("GET", "/v1/admin/tenants", None): {"party": 403, "auditor": 403, "operator": 403, "admin": 200},
        ("POST", "/v1/admin/tenants", "tenant"): {"party": 403, "auditor": 403, "operator": 403, "admin": 201},
        ("GET", "/v1/audit", None): {"party": 403, "auditor": 200, "operator": 403, "admin": 200},
        ("GET", "/v1/audit/head", None): {"party": 403, "auditor": 200, "operator": 403, "admin": 200},
    }
    seen = {}
    for (method, path, body) in matrix:
        for role, who in roles.items():
            payload = {"new": {**DISPUTE, "id": f"matrix-new-{role}"}, "reveal": {"precedents": []},
                       "tenant": {"name": f"made-by-{role}"}, "content": None,
                       "side": sides["acme"].model_dump(mode="json"), None: None}[body]
            if body == "content":
                answer = call(gw, who, method, path, content=f"uploaded by {role}".encode(),
                              headers={"Content-Type": "application/octet-stream"})
            elif payload is not None:
                answer = call(gw, who, method, path, json=payload)
            else:
                answer = call(gw, who, method, path)
            seen[(method, path, role)] = answer.status_code
            if answer.status_code == 403:
                assert code(answer) == "auth.insufficient_scope"
        assert call(gw, None, method, path).status_code == 401
    wanted = {(m, p, r): s for (m, p, _), row in matrix.items() for r, s in row.items()}
    assert seen == wanted

    # What each role sees holds no content it must not see.
    runs = call(gw, "operator-1", "GET", "/v1/ops/runs").json()
    assert runs and all(set(r) == {"run", "flow_run_id", "status", "submitted_at", "updated_at"} for r in runs)
    receipts = call(gw, "auditor-acme", "GET", d + "/receipts").json()
    assert "settlement" not in receipts and "memo" not in json.dumps(receipts) and receipts["tenant"] == "acme"
    assert call(gw, "auditor-nobody", "GET", d + "/receipts").status_code == 404
    audit = call(gw, "auditor-acme", "GET", "/v1/audit").json()
    assert audit and {e["tenant"] for e in audit} == {"acme"}
    assert call(gw, "auditor-acme", "GET", "/v1/audit", params={"tenant": "globex"}).status_code == 403


def test_two_tenants_same_id_never_meet(gw):
    same = {**DISPUTE, "id": "shared-id-001"}
    for firm in ("firm-a", "firm-b"):
        answer = _submit(gw, firm, same)
        assert answer.status_code == 202 and answer.json()["dispute_id"] == "shared-id-001"
    a, b = (call(gw, f, "GET", "/v1/disputes/shared-id-001").json() for f in ("firm-a", "firm-b"))
    assert (a["tenant"], b["tenant"]) == ("firm-a", "firm-b")
    with gw["app"].state.sessions() as s:
        runs = s.scalars(select(DisputeRow.flow_run_id).where(DisputeRow.dispute_id == "shared-id-001")).all()
    assert len(set(runs)) == 2 and None not in runs
    assert _submit(gw, "firm-a", {**DISPUTE, "id": "only-a-001"}).status_code == 202
    hidden = call(gw, "firm-b", "GET", "/v1/disputes/only-a-001")
    assert hidden.status_code == 404 and code(hidden) == "dispute.not_found"
    for suffix in ("/memo", "/receipts"):
        assert code(call(gw, "firm-b", "GET", "/v1/disputes/only-a-001" + suffix)) == "dispute.not_found"
    assert code(call(gw, "firm-b", "POST", "/v1/disputes/only-a-001/reveal", json={"precedents": []})) == \
        "dispute.not_found"
    assert "only-a-001" not in {d["dispute_id"] for d in call(gw, "firm-b", "GET", "/v1/disputes").json()}
    wrong = call(gw, "firm-b", "GET", "/v1/disputes/only-a-001", params={"tenant": "firm-a"})
    assert wrong.status_code == 404


def test_a_named_party_reads_the_dispute_and_no_one_else(gw):
    assert _submit(gw, "acme", {**DISPUTE, "id": "named-001"}).status_code == 202  # parties: acme, globex
    seen = call(gw, "globex", "GET", "/v1/disputes/named-001")
    assert seen.status_code == 200 and seen.json()["tenant"] == "acme"
    assert code(call(gw, "initech", "GET", "/v1/disputes/named-001")) == "dispute.not_found"
    # The named party may read, but only the submitter answers the reveal (it holds the secret key).
    assert code(call(gw, "globex", "POST", "/v1/disputes/named-001/reveal", json={"precedents": []})) == \
        "dispute.not_found"


def _count(gw) -> int:
    with gw["app"].state.sessions() as s:
        return s.scalar(select(func.count()).select_from(DisputeRow))


def test_idempotency_same_body_same_answer_other_body_409(gw):
    body = {**DISPUTE, "id": "idem-001"}
    first = _submit(gw, "acme", body, key="key-1")
    before = _count(gw)
    again = _submit(gw, "acme", json.loads(json.dumps(body, indent=3)), key="key-1")
    assert first.status_code == again.status_code == 202 and first.json() == again.json()
    assert _count(gw) == before
    other = _submit(gw, "acme", {**body, "title": "another title"}, key="key-1")
    assert other.status_code == 409 and code(other) == "idempotency.conflict"
    twice = _submit(gw, "acme", body)  # no key, same id: refused, nothing new
    assert twice.status_code == 409 and code(twice) == "dispute.exists" and _count(gw) == before
    with gw["app"].state.sessions() as s:
        (run,) = s.scalars(select(DisputeRow.flow_run_id).where(DisputeRow.dispute_id == "idem-001")).all()
    assert run is not None


def test_status_follows_the_prefect_run(gw):
    from prefect.client.orchestration import get_client
    from prefect.states import Failed, Running

    answer = _submit(gw, "acme", {**DISPUTE, "id": "status-001"})
    assert answer.json()["status"] == "queued" and answer.json()["links"]["self"] == "/v1/disputes/status-001"
    view = call(gw, "acme", "GET", "/v1/disputes/status-001").json()
    assert view["status"] == "queued" and view["submitted_at"] <= view["updated_at"]
    with gw["app"].state.sessions() as s:
        run_id = s.scalar(select(DisputeRow.flow_run_id).where(DisputeRow.dispute_id == "status-001"))

    async def force(state):
        async with get_client() as client:
            await client.set_flow_run_state(run_id, state, force=True)

    asyncio.run(force(Running()))
    assert call(gw, "acme", "GET", "/v1/disputes/status-001").json()["status"] == "running"
    asyncio.run(force(Failed(message="stage negotiate failed")))
    failed = call(gw, "acme", "GET", "/v1/disputes/status-001").json()
    assert failed["status"] == "failed" and failed["message"] == "stage negotiate failed"


def test_a_long_poll_answers_when_the_status_moves_on(gw):
    import threading
    import time

    from prefect.client.orchestration import get_client
    from prefect.states import Running

    assert _submit(gw, "acme", {**DISPUTE, "id": "longpoll-001"}).status_code == 202
    with gw["app"].state.sessions() as s:
        run_id = s.scalar(select(DisputeRow.flow_run_id).where(DisputeRow.dispute_id == "longpoll-001"))
    path = "/v1/disputes/longpoll-001"

    started = time.monotonic()
    unchanged = call(gw, "acme", "GET", path, params={"changed_from": "queued", "wait_s": 1.5})
    assert unchanged.json()["status"] == "queued" and time.monotonic() - started >= 1.4  # it waited, then answered

    async def force_running():
        async with get_client() as client:
            await client.set_flow_run_state(run_id, Running(), force=True)

    answers: list = []
    waiting = threading.Thread(target=lambda: answers.append(
        (call(gw, "acme", "GET", path, params={"changed_from": "queued", "wait_s": 25}), time.monotonic())))
    started = time.monotonic()
    waiting.start()
    time.sleep(1.0)
    asyncio.run(force_running())  # here: this thread holds the test's Prefect settings
    forced = time.monotonic()
    waiting.join(timeout=60)
    (moved, answered_at), = answers
    # answered at the change (the gateway looks once a second), not when the 25 s ran out
    assert moved.json()["status"] == "running" and answered_at - forced < 10, (answered_at - started)

    started = time.monotonic()  # already moved on: no wait at all
    assert call(gw, "acme", "GET", path, params={"changed_from": "queued", "wait_s": 20}).json()["status"] == "running"
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(("case", "params", "field"), [(1, {"changed_from": "queued", "wait_s": 31}, "wait_s"),
                                                        (2, {"changed_from": "queued", "wait_s": -1}, "wait_s"),
                                                        (3, {"changed_from": "sleeping", "wait_s": 5}, "changed_from")])
def test_a_long_poll_outside_its_rules_is_refused_naming_the_field(gw, case, params, field):
    assert _submit(gw, "acme", {**DISPUTE, "id": f"longpoll-bad-{case}"}).status_code == 202
    answer = call(gw, "acme", "GET", f"/v1/disputes/longpoll-bad-{case}", params=params)
    assert answer.status_code == 422 and field in answer.text

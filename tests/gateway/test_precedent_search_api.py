"""The tenant's encrypted precedent search through the gateway, on loopback over a real,
closed Prefect server: content uploads served only to their tenant, `precedent_search`
checked strictly, the paused run's encrypted scores handed to its submitter only, the
reveal checked against the search, and the CLI's `tenant prepare` / `tenant respond` doing
it all with `--api` and a key folder of their own.

The deployment is a stand-in with the dispute flow's parameters and no worker: the test
plays the server's scoring step itself with the product's own server path
(`score_stored_query`, a signed `encrypted_search` receipt) and moves the run to Paused.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from prefect import flow
from sqlalchemy import select

from dalrn_core.dispute.records import chain_key
from dalrn_core.evidence.cid import cid_of
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.ledger import append_receipt
from dalrn_core.podp.signing import ReceiptSigner
from dalrn_core.search.ckks_keys import TenantKeys
from dalrn_core.search.encrypted import score_stored_query
from dalrn_core.search.index import PrecedentIndex
from dalrn_core.search.rotation import KeyRegistry
from gateway.db.models import DisputeRow
from tests.gateway.gateway_app import add_tenant, make_app
from tests.gateway.live_app import live
from tests.gateway.pool_watch import PoolWatchingRuns
from tests.gateway.prefect_server import closed_prefect_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())
DISPUTE = {k: v for k, v in SAMPLE.items() if k != "tenant"}  # parties: acme, globex
CONTENT_LIMIT = 40 * 1024 * 1024  # above a public context (about 35 MB), below what the test sends to get 413
OCTETS = {"Content-Type": "application/octet-stream"}


@flow(name="dalrn-gateway-search-test")
def stand_in(dispute: dict, precedent_search: dict | None = None, tenant: str | None = None) -> dict:
    return {"dispute_id": dispute["id"]}


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search-gateway")
    with closed_prefect_server():
        asyncio.run(stand_in.to_deployment(name="gateway").aapply())
        runs = PoolWatchingRuns(deployment="dalrn-gateway-search-test/gateway")
        app = make_app(folder, runs=runs,
                       rate_limit="100000/minute", token_rate_limit="100000/minute",
                       content_limit_bytes=CONTENT_LIMIT)
        runs.engine = app.state.engine
        keys = {name: add_tenant(app, name, role) for name, role in
                [("acme", "party"), ("globex", "party"), ("operator-1", "operator")]}
        with live(app, probe="/healthz") as url:
            tokens = {}
            for name, issued in keys.items():
                answer = httpx.post(f"{url}/v1/oauth/token", data={
                    "grant_type": "client_credentials", "client_id": issued["key_id"],
                    "client_secret": issued["api_key"]})
                tokens[name] = answer.json()["access_token"]
            yield {"url": url, "app": app, "keys": keys, "tokens": tokens, "folder": folder, "runs": runs}


@pytest.fixture(scope="module")
def tenant_keys():
    return TenantKeys.generate()


@pytest.fixture(scope="module")
def index():
    """A small real index (random unit vectors of MiniLM's width), not the session's latest."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(40, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    built = PrecedentIndex.build(vectors, [f"precedent-{i:02d}" for i in range(40)])
    built.save(make_latest=False)
    return built


def call(gw, who: str | None, method: str, path: str, **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if who is not None:
        headers["Authorization"] = f"Bearer {gw['tokens'][who]}"
    return httpx.request(method, gw["url"] + path, headers=headers, timeout=120, **kwargs)


def code(answer: httpx.Response) -> str | None:
    return answer.json()["error"]["code"] if answer.status_code >= 400 else None


def upload(gw, who: str, data: bytes) -> str:
    answer = call(gw, who, "POST", "/v1/content", content=data, headers=dict(OCTETS))
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"cid": cid_of(data), "size": len(data)}
    return answer.json()["cid"]


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384)
    return v / np.linalg.norm(v)


def test_content_is_served_only_to_the_tenant_that_uploaded_it(gw):
    data = b"acme's public bytes " + os.urandom(64)
    cid = upload(gw, "acme", data)
    mine = call(gw, "acme", "GET", f"/v1/content/{cid}")
    assert mine.status_code == 200 and mine.content == data
    assert mine.headers["content-type"] == "application/octet-stream"
    for other in ("globex",):
        hidden = call(gw, other, "GET", f"/v1/content/{cid}")
        assert hidden.status_code == 404 and code(hidden) == "content.not_found"
    # A CID that exists nowhere reads exactly like one that exists for someone else.
    absent = call(gw, "globex", "GET", f"/v1/content/{cid_of(b'never uploaded')}")
    assert absent.status_code == 404 and absent.json()["error"]["code"] == "content.not_found"
    assert call(gw, "operator-1", "GET", f"/v1/content/{cid}").status_code == 403
    assert call(gw, None, "GET", f"/v1/content/{cid}").status_code == 401
    # globex uploading the same bytes is granted them too; acme's grant is unchanged.
    assert upload(gw, "globex", data) == cid
    assert call(gw, "globex", "GET", f"/v1/content/{cid}").content == data


def test_uploads_are_bounded_typed_and_never_hold_a_secret_key(gw, tenant_keys):
    too_big = call(gw, "acme", "POST", "/v1/content", content=b"\0" * (CONTENT_LIMIT + 1), headers=dict(OCTETS))
    assert too_big.status_code == 413 and code(too_big) == "request.too_large"
    wrong_type = call(gw, "acme", "POST", "/v1/content", content=b"abc", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415 and code(wrong_type) == "content.unsupported_media_type"
    empty = call(gw, "acme", "POST", "/v1/content", content=b"", headers=dict(OCTETS))
    assert empty.status_code == 422 and code(empty) == "content.empty"
    # The larger limit is the upload's only: a JSON endpoint keeps the small one.
    big_json = call(gw, "acme", "POST", "/v1/disputes", content=b" " * (300 * 1024),
                    headers={"Content-Type": "application/json"})
    assert big_json.status_code == 413

    secret = tenant_keys.context.serialize(save_secret_key=True)
    refused = call(gw, "acme", "POST", "/v1/content", content=secret, headers=dict(OCTETS))
    assert refused.status_code == 422 and code(refused) == "content.secret_key"
    assert not LocalContentStore().has(cid_of(secret))


def _submit(gw, who: str, dispute: dict, search: dict | None = None) -> httpx.Response:
    body = {**dispute, **({"precedent_search": search} if search is not None else {})}
    return call(gw, who, "POST", "/v1/disputes", json=body)


def test_precedent_search_is_checked_strictly(gw, tenant_keys):
    public = tenant_keys.public_context()
    context_cid = upload(gw, "acme", public)
    query_cid = upload(gw, "acme", tenant_keys.encrypt_query(_unit(1)))
    good = {"context_cid": context_cid, "query_cid": query_cid, "k": 3}
    dispute = {**DISPUTE, "id": "search-strict-001"}

    def refused(search: dict, who: str = "acme") -> tuple[int, str | None, str | None]:
        answer = _submit(gw, who, dispute, search)
        error = answer.json().get("error") or {}
        return answer.status_code, error.get("code"), error.get("field")

    assert refused({**good, "tenant": "acme"}) == (422, "request.unknown_field", "precedent_search.tenant")
    assert refused({**good, "k": 0})[:2] == (422, "request.invalid")
    assert refused({k: v for k, v in good.items() if k != "query_cid"})[:2] == (422, "request.invalid")
    # CIDs another tenant uploaded, or nobody did, are not this tenant's to name.
    globex_query = upload(gw, "globex", TenantKeys.generate().encrypt_query(_unit(2)))
    assert refused({**good, "query_cid": globex_query}) == \
        (422, "precedent_search.unknown_content", "precedent_search.query_cid")
    assert refused({**good, "context_cid": cid_of(b"nothing")}) == \
        (422, "precedent_search.unknown_content", "precedent_search.context_cid")
    assert refused({**good, "context_cid": "not-a-cid-at-all"}) == \
        (422, "precedent_search.invalid_cid", "precedent_search.context_cid")
    # The context must be a public CKKS context; the query an envelope under that same key.
    assert refused({**good, "context_cid": query_cid}) == \
        (422, "precedent_search.invalid_context", "precedent_search.context_cid")
    assert refused({**good, "query_cid": context_cid}) == \
        (422, "precedent_search.invalid_query", "precedent_search.query_cid")
    other_query = upload(gw, "acme", TenantKeys.generate().encrypt_query(_unit(3)))
    assert refused({**good, "query_cid": other_query}) == \
        (422, "precedent_search.key_mismatch", "precedent_search.query_cid")
    assert refused({**good, "key_id": "0" * 64}) == (422, "precedent_search.key_mismatch", "precedent_search.key_id")
    with gw["app"].state.sessions() as session:
        assert session.scalars(select(DisputeRow).where(DisputeRow.dispute_id == dispute["id"])).first() is None

    accepted = _submit(gw, "acme", dispute, {**good, "key_id": tenant_keys.key_id})
    assert accepted.status_code == 202, accepted.text
    assert tenant_keys.key_id in KeyRegistry().active_ids()  # the run will accept this key
    parameters = _run_parameters(gw, "acme", dispute["id"])
    assert parameters["precedent_search"] == {"tenant": "acme", "key_id": tenant_keys.key_id,
                                              "context_cid": context_cid, "query_cid": query_cid, "k": 3}
    assert parameters["tenant"] == "acme" and "precedent_search" not in parameters["dispute"]


def _run_id(gw, tenant: str, dispute_id: str) -> str:
    with gw["app"].state.sessions() as session:
        return session.scalars(select(DisputeRow.flow_run_id).where(
            DisputeRow.tenant == tenant, DisputeRow.dispute_id == dispute_id)).one()


def _run_parameters(gw, tenant: str, dispute_id: str) -> dict:
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return (await client.read_flow_run(_run_id(gw, tenant, dispute_id))).parameters

    return asyncio.run(read())


def _run_state(gw, tenant: str, dispute_id: str) -> str:
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return (await client.read_flow_run(_run_id(gw, tenant, dispute_id))).state.type.value

    return asyncio.run(read())


def _score_and_pause(gw, tenant: str, dispute_id: str, index: PrecedentIndex) -> list[str]:
    """What the dispute flow does before its pause: score the stored query, sign the receipt, pause."""
    from prefect.client.orchestration import get_client
    from prefect.states import Paused

    search = _run_parameters(gw, tenant, dispute_id)["precedent_search"]
    store, signer, chain = LocalContentStore(), ReceiptSigner.from_key_file(), chain_key(tenant, dispute_id)
    append_receipt(chain, "intake", store, signer, outputs={"dispute_id": dispute_id})
    score_cids = score_stored_query(store, search["context_cid"], search["query_cid"], index.vectors,
                                    active_key_ids=KeyRegistry().active_ids())
    append_receipt(chain, "encrypted_search", store, signer,
                   inputs={"context": search["context_cid"], "query": search["query_cid"]},
                   params={"index": index.cid, "key_id": search["key_id"]},
                   outputs={"score_cids": score_cids, "index_cid": index.cid, "documents": len(index)})

    async def pause():
        async with get_client() as client:
            await client.set_flow_run_state(_run_id(gw, tenant, dispute_id),
                                            Paused(pause_key="reveal", reschedule=False), force=True)

    asyncio.run(pause())
    return score_cids


def test_the_paused_search_goes_to_its_submitter_only(gw, tenant_keys, index):
    query = _unit(4)
    search = {"context_cid": upload(gw, "acme", tenant_keys.public_context()),
              "query_cid": upload(gw, "acme", tenant_keys.encrypt_query(query)), "k": 4}
    assert _submit(gw, "acme", {**DISPUTE, "id": "search-001"}, search).status_code == 202
    assert _submit(gw, "acme", {**DISPUTE, "id": "plain-001"}).status_code == 202

    waiting = call(gw, "acme", "GET", "/v1/disputes/search-001/search")
    assert waiting.status_code == 409 and code(waiting) == "dispute.not_awaiting_tenant"
    plain = call(gw, "acme", "GET", "/v1/disputes/plain-001/search")
    assert plain.status_code == 409 and code(plain) == "dispute.no_precedent_search"
    early = call(gw, "acme", "POST", "/v1/disputes/search-001/reveal", json={"precedents": []})
    assert early.status_code == 409 and code(early) == "dispute.not_awaiting_tenant"

    score_cids = _score_and_pause(gw, "acme", "search-001", index)
    # globex is a named party: it reads the dispute, but the search is the submitter's alone.
    assert call(gw, "globex", "GET", "/v1/disputes/search-001").status_code == 200
    assert code(call(gw, "globex", "GET", "/v1/disputes/search-001/search")) == "dispute.not_found"
    assert call(gw, "operator-1", "GET", "/v1/disputes/search-001/search").status_code == 403

    answer = call(gw, "acme", "GET", "/v1/disputes/search-001/search")
    assert answer.status_code == 200, answer.text
    paused = answer.json()
    assert paused == {"dispute_id": "search-001", "status": "awaiting_tenant", "key_id": tenant_keys.key_id,
                      "k": 4, "index_cid": index.cid, "documents": len(index), "score_cids": score_cids,
                      "precedent_ids": index.ids}
    blobs = []
    for cid in score_cids:
        assert code(call(gw, "globex", "GET", f"/v1/content/{cid}")) == "content.not_found"
        fetched = call(gw, "acme", "GET", f"/v1/content/{cid}")
        assert fetched.status_code == 200 and cid_of(fetched.content) == cid
        blobs.append(fetched.content)
    # Decrypted on the tenant's side, the scores are the plaintext inner products (CKKS error aside).
    scores = tenant_keys.decrypt_scores(blobs)
    np.testing.assert_allclose(scores, index.vectors.astype(np.float64) @ query, atol=1e-3)

    top = [{"precedent_id": index.ids[i], "score": float(scores[i])} for i in np.argsort(-scores)[:4]]
    for bad, field in [([*top, {"precedent_id": index.ids[0], "score": 0.1}], "precedents"),
                       ([{"precedent_id": "no-such-precedent", "score": 0.5}], "precedents[0].precedent_id"),
                       ([top[0], top[0]], "precedents[1].precedent_id"),
                       ([{**top[0], "score": 7.0}], "precedents[0].score")]:
        refused = call(gw, "acme", "POST", "/v1/disputes/search-001/reveal", json={"precedents": bad})
        assert refused.status_code == 422 and code(refused) == "reveal.invalid", refused.text
        assert refused.json()["error"]["field"] == field
    assert code(call(gw, "globex", "POST", "/v1/disputes/search-001/reveal", json={"precedents": top})) == \
        "dispute.not_found"
    assert _run_state(gw, "acme", "search-001") == "PAUSED"  # no refused reveal resumed it

    accepted = call(gw, "acme", "POST", "/v1/disputes/search-001/reveal", json={"precedents": top})
    assert accepted.status_code == 202, accepted.text
    assert _run_state(gw, "acme", "search-001") != "PAUSED"
    gone = call(gw, "acme", "GET", "/v1/disputes/search-001/search")
    assert gone.status_code == 409 and code(gone) == "dispute.not_awaiting_tenant"
    # One request at a time here: while it waited on Prefect, it held no database connection
    # (a connection held per waiting request drains the pool under load).
    held = gw["runs"].held
    assert {"start", "view", "search", "reveal"} <= set(held)
    assert {method: max(counts) for method, counts in held.items()} == dict.fromkeys(held, 0)


def _dalrn(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_the_cli_prepares_and_responds_through_the_gateway_only(gw, index, tmp_path):
    from dalrn_core.search.tenant_query import query_vector

    issued = gw["keys"]["globex"]
    machine = tmp_path / "globex-machine"  # the tenant's own data, key and tenant folders
    env = {**os.environ, "DALRN_HOME": str(machine / "home"), "DALRN_KEYS_DIR": str(machine / "keys"),
           "DALRN_TENANT_HOME": str(machine / "tenant"), "DALRN_API_KEY": f"{issued['key_id']}:{issued['api_key']}"}
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_API_AUTH_STRING", None)
    dispute = {**DISPUTE, "id": "cli-search-001"}
    path = tmp_path / "dispute.json"
    path.write_text(json.dumps(dispute))

    missing_api = _dalrn("tenant", "prepare", str(path), env={**env, "DALRN_API_URL": ""})
    assert missing_api.returncode == 2 and "--api" in missing_api.stderr and "Traceback" not in missing_api.stderr
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({**dispute, "tenant": "acme"}))
    mismatch = _dalrn("tenant", "prepare", str(foreign), "--api", gw["url"], env=env)
    assert mismatch.returncode == 2 and "tenant" in mismatch.stderr and "Traceback" not in mismatch.stderr

    prepared = _dalrn("tenant", "prepare", str(path), "--api", gw["url"], "--k", "3", env=env)
    assert prepared.returncode == 0, prepared.stderr
    assert prepared.stdout.strip().splitlines()[-1] == "cli-search-001"
    again = _dalrn("tenant", "prepare", str(path), "--api", gw["url"], "--k", "3", env=env)
    assert again.returncode == 2 and "already submitted" in again.stderr

    not_yet = _dalrn("tenant", "respond", "cli-search-001", "--api", gw["url"], env=env)
    assert not_yet.returncode == 2 and "dispute.not_awaiting_tenant" in not_yet.stderr
    _score_and_pause(gw, "globex", "cli-search-001", index)
    answered = _dalrn("tenant", "respond", "cli-search-001", "--api", gw["url"], "--json", env=env)
    assert answered.returncode == 0, answered.stderr
    revealed = json.loads(answered.stdout)["precedents"]
    # The tenant revealed the true top 3 of its own query (computed here, in the clear, as reference).
    query = query_vector([d["text"] for d in dispute["evidence"]]).astype(np.float64)
    reference = index.vectors.astype(np.float64) @ query
    assert len(revealed) == 3
    for hit in revealed:
        assert abs(hit["score"] - reference[index.ids.index(hit["precedent_id"])]) < 1e-3
    assert min(h["score"] for h in revealed) >= np.sort(reference)[-3] - 2e-3
    assert _run_state(gw, "globex", "cli-search-001") != "PAUSED"
    twice = _dalrn("tenant", "respond", "cli-search-001", "--api", gw["url"], env=env)
    assert twice.returncode == 2 and "dispute.not_awaiting_tenant" in twice.stderr

    # The tenant's secret key lives only on the tenant's side, never in the server's folders.
    assert [p.name for p in machine.rglob("tenant-*.ckks")] == ["tenant-globex.ckks"]
    for server_folder in (os.environ["DALRN_HOME"], os.environ["DALRN_KEYS_DIR"]):
        assert not list(Path(server_folder).rglob("tenant-globex.ckks"))

"""Confidential evidence through the gateway, on loopback over a real, closed Prefect server:
envelope keys registered and read, a submission whose confidential item carries text (or
names an envelope that is not its own) refused naming the field, the run given the envelope's
CID and never the text, and the item read back in full only on a reader's side.

The tenants' sides run here through the tenant SDK with their own `DALRN_TENANT_HOME`;
the deployment is the stand-in of `live_gateway` (no worker), so nothing is resolved.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from dalrn_cli.api_client import GatewayClient, GatewayContent
from dalrn_cli.tenant_sdk import (
    GatewayReaders,
    seal_dispute,
    seal_for_gateway,
    seal_side_for_gateway,
    show_evidence,
)
from dalrn_core.evidence import envelope as env
from dalrn_core.evidence.store import LocalContentStore
from tests.gateway.live_gateway import live_gateway

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())
SECRET = "Acme's own test lab logged 41 failed builds in the Globex release of 2 February."


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    with live_gateway(tmp_path_factory.mktemp("confidential-gateway")) as served:
        yield served


@pytest.fixture()
def as_tenant(gw, tmp_path, monkeypatch):
    """A GatewayClient for a tenant, with that tenant's own folder set for the SDK."""
    clients = []

    def use(name: str) -> GatewayClient:
        monkeypatch.setenv("DALRN_TENANT_HOME", str(tmp_path / f"tenant-{name}"))
        issued = gw["keys"][name]
        client = GatewayClient(gw["url"], (issued["key_id"], issued["api_key"]))
        clients.append(client)
        return client

    yield use
    for client in clients:
        client.close()


def call(gw, who: str | None, method: str, path: str, **kwargs) -> httpx.Response:
    headers = kwargs.pop("headers", {})
    if who is not None:
        headers["Authorization"] = f"Bearer {gw['tokens'][who]}"
    return httpx.request(method, gw["url"] + path, headers=headers, timeout=60, **kwargs)


def code(answer: httpx.Response) -> str | None:
    return answer.json()["error"]["code"] if answer.status_code >= 400 else None


def _file(dispute_id: str) -> dict:
    body = {k: v for k, v in copy.deepcopy(SAMPLE).items() if k != "tenant"}
    body["id"] = dispute_id
    body["evidence"][0].update({"confidential": True, "text": SECRET})
    return body


def _run_parameters(gw, tenant: str, dispute_id: str) -> dict:
    from prefect.client.orchestration import get_client
    from sqlalchemy import select

    from gateway.db.models import DisputeRow

    with gw["app"].state.sessions() as session:
        run_id = session.scalars(select(DisputeRow.flow_run_id).where(
            DisputeRow.tenant == tenant, DisputeRow.dispute_id == dispute_id)).one()

    async def read():
        async with get_client() as client:
            return (await client.read_flow_run(run_id)).parameters

    return asyncio.run(read())


def test_envelope_keys_are_registered_and_read_by_parties_only(gw):
    public = env.public_bytes(X25519PrivateKey.generate())
    put = call(gw, "initech", "PUT", "/v1/keys/envelope", json={"public_key": base64.b64encode(public).decode()})
    assert put.status_code == 200, put.text
    assert put.json()["key_id"] == env.key_id_of(public) and put.json()["tenant"] == "initech"
    read = call(gw, "firm-a", "GET", "/v1/keys/envelope/initech")
    assert read.status_code == 200 and base64.b64decode(read.json()["public_key"]) == public
    missing = call(gw, "firm-a", "GET", "/v1/keys/envelope/firm-b")
    assert missing.status_code == 404 and code(missing) == "envelope_key.not_found"
    short = call(gw, "initech", "PUT", "/v1/keys/envelope", json={"public_key": base64.b64encode(b"x" * 31 + b"yy").decode()})
    assert short.status_code == 422 and short.json()["error"]["field"] == "public_key"
    assert call(gw, "operator-1", "GET", "/v1/keys/envelope/initech").status_code == 403
    assert call(gw, None, "GET", "/v1/keys/envelope/initech").status_code == 401


def test_a_confidential_item_reaches_the_run_as_a_ciphertext_cid_only(gw, as_tenant):
    acme = as_tenant("acme")
    sealed = seal_for_gateway(_file("confidential-001"), acme)
    cid = sealed.sealed["ev-1"]
    assert sealed.body["evidence"][0] == {"id": "ev-1", "party": "acme", "title": SAMPLE["evidence"][0]["title"],
                                          "confidential": True, "ciphertext_cid": cid}
    accepted = acme.request("POST", "/v1/disputes", json=sealed.body, ok=(202,))
    assert accepted.json()["dispute_id"] == "confidential-001"
    parameters = _run_parameters(gw, "acme", "confidential-001")
    assert parameters["dispute"]["evidence"][0] == sealed.body["evidence"][0]
    assert SECRET not in json.dumps(parameters)
    stored = LocalContentStore().get(cid)
    assert SECRET.encode() not in stored and env.read_header(stored).recipients == ("acme",)

    # The owner reads it back, decrypted on its side; globex (named as a party id, not as a
    # reader) sees the dispute but not this item, nor its bytes.
    shown = show_evidence("confidential-001", "ev-1", acme, GatewayContent(acme))
    assert shown["text"] == SECRET and shown["readers"] == ["acme"] and shown["owner"] == "acme"
    public = call(gw, "globex", "GET", "/v1/disputes/confidential-001/evidence/ev-2")
    assert public.status_code == 200 and public.json()["text"] == SAMPLE["evidence"][1]["text"]
    hidden = call(gw, "globex", "GET", "/v1/disputes/confidential-001/evidence/ev-1")
    assert hidden.status_code == 404 and code(hidden) == "evidence.not_found"
    assert code(call(gw, "globex", "GET", f"/v1/content/{cid}")) == "content.not_found"
    assert code(call(gw, "initech", "GET", "/v1/disputes/confidential-001/evidence/ev-1")) == "dispute.not_found"
    assert code(call(gw, "acme", "GET", "/v1/disputes/confidential-001/evidence/ev-9")) == "evidence.not_found"


def test_a_confidential_item_that_is_not_what_it_claims_is_refused(gw, as_tenant):
    acme = as_tenant("acme")
    sealed = seal_for_gateway(_file("confidential-002"), acme)

    def refused(body: dict, who: str = "acme") -> tuple[int, str | None, str | None]:
        answer = call(gw, who, "POST", "/v1/disputes", json=body)
        return answer.status_code, code(answer), (answer.json().get("error") or {}).get("field")

    with_text = copy.deepcopy(sealed.body)
    with_text["evidence"][0]["text"] = SECRET
    status, error, field = refused(with_text)
    assert (status, error, field) == (422, "request.invalid", "evidence.0.text")
    # The same envelope under another dispute's id: bound elsewhere.
    moved = {**copy.deepcopy(sealed.body), "id": "confidential-003"}
    assert refused(moved) == (422, "evidence.invalid_envelope", "evidence[0].ciphertext_cid")
    # Content globex uploaded is not acme's to name, even an envelope made for acme's dispute.
    globex = as_tenant("globex")
    forged = seal_dispute(_file("confidential-002"), tenant="acme",
                          readers={"acme": env.public_bytes(X25519PrivateKey.generate())},
                          put=lambda data: GatewayContent(globex).put(data))
    assert refused(forged.body) == (422, "evidence.unknown_content", "evidence[0].ciphertext_cid")
    plain = call(gw, "acme", "POST", "/v1/content", content=b"not an envelope",
                 headers={"Content-Type": "application/octet-stream"}).json()["cid"]
    not_envelope = copy.deepcopy(sealed.body)
    not_envelope["evidence"][0]["ciphertext_cid"] = plain
    assert refused(not_envelope) == (422, "evidence.invalid_envelope", "evidence[0].ciphertext_cid")
    assert code(call(gw, "acme", "GET", "/v1/disputes/confidential-002")) == "dispute.not_found"


def test_a_joint_dispute_wraps_each_side_for_both_parties(gw, as_tenant):
    """acme opens with a confidential item, globex joins with one: each reads the other's."""
    GatewayReaders(as_tenant("globex")).register("globex")  # globex's key, for acme to wrap for
    acme = as_tenant("acme")
    from dalrn_cli.sides import salted_opening, salted_side
    from dalrn_core.dispute.model import Dispute
    from dalrn_core.dispute.sides import split_dispute

    whole = {**copy.deepcopy(SAMPLE), "id": "confidential-joint-001", "tenant": "acme",
             "parties": [{**SAMPLE["parties"][0], "tenant": "acme"}, {**SAMPLE["parties"][1], "tenant": "globex"}]}
    shared, sides = split_dispute(Dispute.model_validate(whole))
    opening = {**shared.model_dump(mode="json", exclude_none=True),
               "side": sides["acme"].model_dump(mode="json", exclude={"salt", "commitment"})}
    opening["side"]["evidence"][0].update({"confidential": True, "text": SECRET})
    sealed = seal_for_gateway(opening, acme)
    body = salted_opening(sealed.body)
    elsewhere = copy.deepcopy(body)
    elsewhere["id"] = "confidential-joint-002"
    refused = call(gw, "acme", "POST", "/v1/disputes", json=elsewhere)
    assert refused.status_code == 422 and code(refused) == "evidence.invalid_envelope", refused.text
    assert refused.json()["error"]["field"] == "side.evidence[0].ciphertext_cid"
    assert call(gw, "acme", "POST", "/v1/disputes", json=body).status_code == 202

    globex = as_tenant("globex")
    side = sides["globex"].model_dump(mode="json", exclude={"salt", "commitment"})
    side["evidence"][0].update({"confidential": True, "text": "Globex's ledger: the builds never left Globex."})
    joined = seal_side_for_gateway(side, "confidential-joint-001", globex)
    # acme's envelope named in globex's side: not globex's upload; and globex's own, moved to another item.
    foreign = copy.deepcopy(joined.body)
    foreign["evidence"][0]["ciphertext_cid"] = sealed.sealed["ev-1"]
    moved = copy.deepcopy(joined.body)
    moved["evidence"][0]["id"] = "ev-7"
    for bad, expected in [(foreign, "evidence.unknown_content"), (moved, "evidence.invalid_envelope")]:
        refused = call(gw, "globex", "POST", "/v1/disputes/confidential-joint-001/join",
                       json=salted_side(bad, "confidential-joint-001").model_dump(mode="json"))
        assert refused.status_code == 422 and code(refused) == expected, refused.text
        assert refused.json()["error"]["field"] == "evidence[0].ciphertext_cid"
    answer = globex.join_dispute("confidential-joint-001", salted_side(joined.body, "confidential-joint-001")
                                 .model_dump(mode="json"))
    assert answer["status"] in ("queued", "running"), answer
    assert "Globex's ledger" in show_evidence("confidential-joint-001", "ev-2", globex, GatewayContent(globex))["text"]
    assert show_evidence("confidential-joint-001", "ev-1", globex, GatewayContent(globex))["text"] == SECRET
    acme = as_tenant("acme")
    shown = show_evidence("confidential-joint-001", "ev-2", acme, GatewayContent(acme))
    assert shown["text"].startswith("Globex's ledger") and shown["readers"] == ["acme", "globex"]

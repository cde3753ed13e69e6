"""The gateway served on loopback over a real, closed Prefect server with a stand-in
`dispute-resolution`-like deployment (no worker: runs stay scheduled until a test moves
them), and one tenant per role."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from prefect import flow

from gateway.runs import DisputeRuns
from tests.gateway.gateway_app import add_tenant, make_app
from tests.gateway.live_app import live
from tests.gateway.prefect_server import closed_prefect_server


@flow(name="dalrn-gateway-api-test")
def stand_in(dispute: dict, sides: dict | None = None, absent_parties: list | None = None,
             precedent_search: dict | None = None) -> dict:
    return {"dispute_id": dispute["id"]}


@contextlib.contextmanager
def live_gateway(tmp_path, **settings):
    with closed_prefect_server():
        asyncio.run(stand_in.to_deployment(name="gateway").aapply())
        app = make_app(tmp_path, runs=DisputeRuns(deployment="dalrn-gateway-api-test/gateway"),
                       rate_limit="100000/minute", token_rate_limit="100000/minute", **settings)
        keys = {name: add_tenant(app, name, role) for name, role in
                [("acme", "party"), ("globex", "party"), ("initech", "party"), ("firm-a", "party"),
                 ("firm-b", "party"), ("operator-1", "operator"), ("admin-1", "admin"),
                 ("auditor-nobody", "auditor")]}
        keys["auditor-acme"] = add_tenant(app, "auditor-acme", "auditor", grants=("acme",))
        with live(app, probe="/healthz") as url:
            tokens = {name: _token(url, issued) for name, issued in keys.items()}
            yield {"url": url, "app": app, "keys": keys, "tokens": tokens}


def _token(url: str, issued: dict) -> str:
    answer = httpx.post(f"{url}/v1/oauth/token", data={"grant_type": "client_credentials",
                                                        "client_id": issued["key_id"],
                                                        "client_secret": issued["api_key"]})
    answer.raise_for_status()
    return answer.json()["access_token"]

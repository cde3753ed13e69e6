"""The tenant's gateway client refuses what it must before any work, and trusts no byte the
gateway hands back without its CID: a gateway that swaps or corrupts content is caught."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from dalrn_cli.api_client import GatewayClient, GatewayContent
from dalrn_cli.main import main
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.cid import cid_of
from tests.gateway.live_app import live
from tests.gateway.prefect_server import free_port


def _unsigned_token(claims: dict) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'EdDSA'})}.{part(claims)}.c2ln"


def lying_gateway() -> FastAPI:
    """Answers like the gateway, but stores nothing and hands back other bytes than it was given."""
    app = FastAPI()

    @app.post("/v1/oauth/token")
    def token():
        return {"access_token": _unsigned_token({"tenant": "acme"}), "token_type": "bearer", "expires_in": 900}

    @app.post("/v1/content", status_code=201)
    async def upload(request: Request):
        data = await request.body()
        return JSONResponse({"cid": cid_of(data + b"!"), "size": len(data)}, status_code=201)

    @app.get("/v1/content/{cid}")
    def download(cid: str):
        return Response(b"not the bytes of " + cid.encode(), media_type="application/octet-stream")

    return app


def test_a_swapped_or_corrupt_content_answer_is_caught():
    with live(lying_gateway(), probe="/docs") as url, GatewayClient(url, ("key_x", "secret")) as client:
        assert client.tenant == "acme"
        content = GatewayContent(client)
        with pytest.raises(IntegrityError, match="not its CID"):
            content.put(b"the tenant's public context")
        with pytest.raises(IntegrityError, match="does not match its CID"):
            content.get(cid_of(b"scores"))


def test_tenant_commands_refuse_bad_input_before_any_request(monkeypatch, capsys):
    monkeypatch.setenv("DALRN_API_KEY", "key_x:secret")
    unreachable = f"http://127.0.0.1:{free_port()}"
    assert main(["tenant", "respond", "../admin/tenants", "--api", unreachable]) == 2
    assert "dispute_id" in capsys.readouterr().err
    assert main(["tenant", "prepare", "examples/supply-contract.json", "--api", unreachable, "--k", "0"]) == 2
    assert "k: must be between 1 and 50" in capsys.readouterr().err
    assert main(["tenant", "respond", "acme-globex-2026-001", "--api", unreachable]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the gateway" in err and "Traceback" not in err
    monkeypatch.delenv("DALRN_API_KEY")
    assert main(["tenant", "respond", "acme-globex-2026-001", "--api", unreachable]) == 2
    assert "DALRN_API_KEY" in capsys.readouterr().err


def test_client_tenant_needs_a_token_naming_one():
    app = FastAPI()

    @app.post("/v1/oauth/token")
    def token():
        return {"access_token": "opaque", "token_type": "bearer", "expires_in": 900}

    with (live(app, probe="/docs") as url, GatewayClient(url, ("key_x", "secret")) as client,
          pytest.raises(InputError, match="names no tenant")):
        _ = client.tenant

"""Every refusal has one shape and a stable code; nothing leaks a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.gateway.gateway_app import add_tenant, bearer, client_of, make_app, token_of

SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())


@pytest.fixture()
def env(tmp_path):
    app = make_app(tmp_path, body_limit_bytes=64 * 1024)
    with client_of(app) as client:
        yield app, client, token_of(client, add_tenant(app, "acme-legal"))


def _error(answer, status: int, code: str, field: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] == code, body
    if field is not None:
        assert body["error"]["field"] == field, body
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    return body["error"]


def test_unknown_fields_and_broken_rules_name_the_field(env):
    _app, client, token = env
    post = lambda body: client.post("/v1/disputes", json=body, headers=bearer(token))
    _error(post({**SAMPLE, "surprise": 1}), 422, "request.unknown_field", "surprise")
    _error(post({**SAMPLE, "parties": [{**SAMPLE["parties"][0], "bribe": 5}, SAMPLE["parties"][1]]}),
           422, "request.unknown_field", "parties.0.bribe")
    _error(post({k: v for k, v in SAMPLE.items() if k != "title"}), 422, "request.invalid", "title")
    _error(post({**SAMPLE, "deadline": "2001-01-01T00:00:00Z"}), 422, "request.invalid", "deadline")
    game = {**SAMPLE["game"], "col_party": "nobody"}
    assert _error(post({**SAMPLE, "game": game}), 422, "request.invalid")["field"].endswith("col_party")
    _error(post({**SAMPLE, "tenant": "globex"}), 403, "dispute.tenant_mismatch", "tenant")


def test_a_body_over_the_limit_is_413_and_deep_json_is_422(env):
    _app, client, token = env
    big = {**SAMPLE, "title": "x" * (70 * 1024)}
    _error(client.post("/v1/disputes", json=big, headers=bearer(token)), 413, "request.too_large")
    chunks = (b"x" * 8192 for _ in range(10))  # no Content-Length: counted while streaming
    _error(client.post("/v1/disputes", content=chunks, headers={**bearer(token), "content-type": "application/json"}),
           413, "request.too_large")
    deep = "[" * 5000 + "]" * 5000
    _error(client.post("/v1/disputes", content=deep, headers={**bearer(token), "content-type": "application/json"}),
           422, "request.too_deep", "body")
    _error(client.post("/v1/disputes", content="{not json", headers={**bearer(token), "content-type": "application/json"}),
           422, "request.invalid_json", "body")


def test_unknown_route_and_method_have_the_shape(env):
    _app, client, token = env
    _error(client.get("/v1/nothing-here"), 404, "route.not_found")
    _error(client.delete("/v1/disputes", headers=bearer(token)), 405, "method.not_allowed")


def test_an_unexpected_failure_is_500_with_the_shape_and_no_detail(env):
    app, client, token = env
    with app.state.engine.begin() as connection:  # a database that lost a table: a real internal fault
        connection.execute(text("DROP TABLE idempotency"))
    answer = client.post("/v1/disputes", json=SAMPLE, headers={**bearer(token), "Idempotency-Key": "k1"})
    error = _error(answer, 500, "internal")
    assert "idempotency" not in error["message"] and "sqlite" not in error["message"].lower()
    assert answer.headers["x-request-id"] in error["message"]

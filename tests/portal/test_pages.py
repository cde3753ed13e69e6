"""The portal's pages over a real gateway app, in process: a joint opening filed through the
portal's door, then the list, dispute and join pages of the opener, the party it names and a
firm it does not name (no run is started: the dispute waits for its other party)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dalrn_core.dispute.sides import PartySide
from tests.gateway.gateway_app import add_tenant, client_of, make_app
from tests.portal.test_session import CSRF

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract-joint.json").read_text())
A, B, C = "portal-a", "portal-b", "portal-c"


@pytest.fixture()
def app(home):
    app = make_app(home)
    app.state.keys = {name: add_tenant(app, name) for name in (A, B, C)}
    return app


def _opening() -> dict:
    acme, globex = EXAMPLE["parties"]
    game = EXAMPLE["game"]
    side = PartySide.commit(party="acme", batna=acme["batna"], payoffs=game["row_payoffs"], claim=acme["claim"],
                            evidence=[d for d in EXAMPLE["evidence"] if d["party"] == "acme"])
    return {"id": EXAMPLE["id"], "title": EXAMPLE["title"], "deadline": EXAMPLE["deadline"],
            "parties": [{"id": "acme", "name": acme["name"], "tenant": A},
                        {"id": "globex", "name": globex["name"], "tenant": B}],
            "game": {k: game[k] for k in ("row_party", "col_party", "row_strategies", "col_strategies")},
            "side": side.model_dump(mode="json")}


def _sign_in(client, issued: dict) -> str:
    csrf = CSRF.search(client.get("/").text).group(1)
    done = client.post("/signin", data={"key_id": issued["key_id"], "api_key": issued["api_key"], "csrf_token": csrf},
                       follow_redirects=False)
    assert done.status_code == 303
    return re.search(r'data-csrf="([0-9a-f]{64})"', client.get("/disputes").text).group(1)


def test_a_joint_opening_through_the_portal_and_the_pages_each_firm_sees(app):
    page_of = f"/disputes/{EXAMPLE['id']}?tenant={A}"
    with client_of(app) as a, client_of(app) as b, client_of(app) as c:
        csrf = _sign_in(a, app.state.keys[A])
        filed = a.post("/portal/api/disputes", json=_opening(), headers={"X-CSRF-Token": csrf, "Idempotency-Key": "k1"})
        assert filed.status_code == 202 and filed.json()["status"] == "awaiting_parties"
        again = a.post("/portal/api/disputes", json={**_opening(), "title": "another"},
                       headers={"X-CSRF-Token": csrf, "Idempotency-Key": "k1"})
        assert again.status_code == 409 and again.json()["error"]["field"] == "Idempotency-Key"  # the API's own

        listing = a.get("/disputes").text
        assert f'href="{page_of}"' in listing and "awaiting_parties" in listing and "2030-06-30 17:00" in listing
        own = a.get(page_of).text
        assert 'data-testid="status" aria-live="polite">awaiting_parties<' in own and "Waiting for globex" in own
        assert 'data-testid="join-link"' not in own  # the opener has filed its side
        assert "has joined" in a.get(f"/disputes/{EXAMPLE['id']}/join?tenant={A}").text
        assert a.get(f"/disputes/{EXAMPLE['id']}/memo.html?tenant={A}").status_code == 409  # not settled

        _sign_in(b, app.state.keys[B])
        listing = b.get("/disputes").text
        assert f"(filed by {A})" in listing and f"<td>{A}</td>" in listing
        assert 'data-testid="join-link"' in b.get(page_of).text
        join = b.get(f"/disputes/{EXAMPLE['id']}/join?tenant={A}").text
        assert 'data-party="globex"' in join and 'data-rows="2" data-cols="2"' in join
        assert "dalrn split" in join  # confidential evidence stays with the tenant SDK
        door = b.get(f"/portal/api/v1/disputes/{EXAMPLE['id']}", params={"tenant": A})
        assert door.status_code == 200 and door.json()["deadline"].startswith("2030-06-30T17:00")
        for outside in ("%2e%2e/%2e%2e/admin/tenants", "x/%2e%2e/%2e%2e/ops/runs", "x//join"):
            assert b.get(f"/portal/api/v1/disputes/{outside}").status_code == 404, outside

        _sign_in(c, app.state.keys[C])
        assert 'data-testid="count">0 of 0 disputes shown.<' in c.get("/disputes").text
        for path in (page_of, f"/disputes/{EXAMPLE['id']}/join?tenant={A}"):
            hidden = c.get(path)
            assert hidden.status_code == 404 and f"no dispute {EXAMPLE['id']}" in hidden.text
        assert c.get(f"/portal/api/v1/disputes/{EXAMPLE['id']}", params={"tenant": A}).status_code == 404
        assert c.get(f"/disputes/{EXAMPLE['id']}/memo.html?tenant={A}").status_code == 404


def test_pages_send_a_strict_content_security_policy(app):
    with client_of(app) as client:
        page = client.get("/")
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy
        assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Content-Type-Options"] == "nosniff"
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
        assert client.get("/portal/static/portal.js").status_code == 200

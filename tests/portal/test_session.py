"""The portal's sign-in, session cookie and CSRF rules, over the real gateway app (no browser)."""

from __future__ import annotations

import re

import pytest

from tests.gateway.gateway_app import add_tenant, client_of, make_app

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@pytest.fixture()
def app(home):
    app = make_app(home)
    app.state.keys = {name: add_tenant(app, name, role) for name, role in
                      [("portal-a", "party"), ("portal-ops", "operator")]}
    return app


def _cookie_header(answer, name: str) -> str:
    return next(h for h in answer.headers.get_list("set-cookie") if h.startswith(f"{name}="))


def _signed_in(client, issued: dict):
    page = client.get("/")
    csrf = CSRF.search(page.text).group(1)
    return client.post("/signin", data={"key_id": issued["key_id"], "api_key": issued["api_key"], "csrf_token": csrf},
                       follow_redirects=False)


def test_signin_sets_a_strict_httponly_session_cookie_with_the_token_lifetime(app):
    with client_of(app) as client:
        page = client.get("/")
        login = _cookie_header(page, "dalrn_portal_login")
        assert "HttpOnly" in login and "SameSite=strict" in login
        done = _signed_in(client, app.state.keys["portal-a"])
        assert done.status_code == 303 and done.headers["location"] == "/disputes"
        cookie = _cookie_header(done, "dalrn_portal_session")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=900" in cookie
        assert "Secure" not in cookie  # plain HTTP on loopback: a Secure cookie would never come back
        listing = client.get("/disputes")
        assert listing.status_code == 200 and 'data-testid="tenant">portal-a<' in listing.text


def test_the_cookie_is_secure_when_the_portal_is_reached_over_tls(app):
    with client_of(app) as client:
        client.base_url = "https://testserver"
        done = _signed_in(client, app.state.keys["portal-a"])
        assert "Secure" in _cookie_header(done, "dalrn_portal_session")


def test_signin_without_the_forms_csrf_token_is_refused(app):
    issued = app.state.keys["portal-a"]
    with client_of(app) as client:
        client.get("/")
        for token in ("", "0" * 64):
            refused = client.post("/signin", data={"key_id": issued["key_id"], "api_key": issued["api_key"],
                                                   "csrf_token": token}, follow_redirects=False)
            assert refused.status_code == 403 and "another site" in refused.text
            assert "dalrn_portal_session=ey" not in refused.headers.get("set-cookie", "")


def test_a_wrong_secret_shows_the_apis_own_message_next_to_the_key_field(app):
    issued = app.state.keys["portal-a"]
    with client_of(app) as client:
        csrf = CSRF.search(client.get("/").text).group(1)
        refused = client.post("/signin", data={"key_id": issued["key_id"], "api_key": "wrong", "csrf_token": csrf})
        assert refused.status_code == 401
        message = re.search(r'data-error-for="key_id" role="alert">([^<]*)<', refused.text).group(1)
        assert message == "unknown client, wrong secret, or a revoked or expired key"
        assert 'aria-invalid="true"' in refused.text


def test_a_role_without_disputes_read_cannot_sign_in(app):
    with client_of(app) as client:
        refused = _signed_in(client, app.state.keys["portal-ops"])
        assert refused.status_code == 403 and "no disputes:read scope" in refused.text


def test_pages_and_doors_need_a_session_and_writes_need_the_csrf_header(app):
    with client_of(app) as client:
        to_signin = client.get("/disputes?status=anchored", follow_redirects=False)
        assert to_signin.status_code == 303 and to_signin.headers["location"] == "/?next=/disputes%3Fstatus%3Danchored"
        assert client.get("/portal/api/v1/disputes/x").status_code == 401
        _signed_in(client, app.state.keys["portal-a"])
        refused = client.post("/portal/api/disputes", json={"id": "x"})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf.invalid"
        csrf = re.search(r'data-csrf="([0-9a-f]{64})"', client.get("/disputes").text).group(1)
        answered = client.post("/portal/api/disputes", json={"id": "x"}, headers={"X-CSRF-Token": csrf})
        assert answered.status_code == 422 and answered.json()["error"]["code"] == "request.invalid"  # the API's
        assert client.post("/signout", data={"csrf_token": ""}, follow_redirects=False).status_code == 403
        out = client.post("/signout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303 and 'dalrn_portal_session=""' in _cookie_header(out, "dalrn_portal_session")


def test_sign_in_follows_only_paths_on_this_site(app):
    from gateway.portal.routes import _safe_next

    assert _safe_next("/disputes/x?tenant=a") == "/disputes/x?tenant=a"
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil", "", None):
        assert _safe_next(hostile) == "/disputes"

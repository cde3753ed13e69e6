"""Tokens: what a valid one carries, every forged or stale one refused with 401, key rotation
overlap, revocation on the next request, the per-key rate limit."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway import identity, tokens
from tests.gateway.gateway_app import add_tenant, bearer, client_of, make_app, token_of


@pytest.fixture()
def env(tmp_path):
    app = make_app(tmp_path, rate_limit="1000/minute", token_rate_limit="1000/minute")
    issued = add_tenant(app, "acme")
    with client_of(app) as client:
        yield app, client, issued


def _ok(client, token):
    return client.get("/v1/disputes", headers=bearer(token))


def _refused(answer):
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert answer.json()["error"]["code"] == "auth.invalid_token"


def _claims(client, token) -> dict:
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in keys if k["kid"] == kid]
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="))
    return jwt.decode(token, public, algorithms=["EdDSA"], audience="urn:dalrn:api")


def test_a_token_verifies_with_the_published_key_and_names_its_tenant(env):
    _app, client, issued = env
    answer = client.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": issued["key_id"],
                                                   "client_secret": issued["api_key"]})
    body = answer.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    claims = _claims(client, body["access_token"])
    assert claims["tenant"] == "acme" and claims["sub"] == issued["key_id"] and claims["iss"] == "urn:dalrn:gateway"
    assert claims["exp"] - claims["iat"] == 900 and "disputes:write" in claims["scope"].split()
    assert _ok(client, body["access_token"]).status_code == 200


def test_oauth_errors_follow_rfc6749(env):
    _app, client, issued = env
    wrong = client.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": issued["key_id"],
                                                  "client_secret": issued["api_key"] + "x"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_client"
    unknown = client.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": "key_nope",
                                                    "client_secret": "x"})
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_client"
    grant = client.post("/v1/oauth/token", data={"grant_type": "password", "client_id": issued["key_id"],
                                                  "client_secret": issued["api_key"]})
    assert grant.status_code == 400 and grant.json()["error"]["code"] == "unsupported_grant_type"


def _segments(token):
    return token.split(".")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_forged_and_stale_tokens_are_refused(env):
    app, client, issued = env
    good = token_of(client, issued)
    claims = _claims(client, good)
    header = jwt.get_unverified_header(good)
    head, body, sig = _segments(good)

    none_alg = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': header['kid']})}.{body}."
    _refused(_ok(client, none_alg))

    tampered = {**claims, "tenant": "globex"}
    _refused(_ok(client, f"{head}.{_b64(tampered)}.{sig}"))
    flipped = sig[:-2] + ("AA" if not sig.endswith("AA") else "BB")
    _refused(_ok(client, f"{head}.{body}.{flipped}"))

    stranger = Ed25519PrivateKey.generate()
    _refused(_ok(client, jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": "k-unknown"})))
    _refused(_ok(client, jwt.encode(claims, stranger, algorithm="EdDSA", headers={"kid": header["kid"]})))

    x = client.get("/.well-known/jwks.json").json()["keys"][0]["x"]
    hs = jwt.encode(claims, x, algorithm="HS256", headers={"kid": header["kid"]})  # key confusion
    _refused(_ok(client, hs))

    with app.state.sessions() as session:
        sign = lambda c: tokens.jwt.encode(c, tokens._private(header["kid"]), algorithm="EdDSA",
                                           headers={"kid": header["kid"]})
        _refused(_ok(client, sign({**claims, "aud": "urn:someone-else"})))
        _refused(_ok(client, sign({**claims, "iss": "urn:someone-else"})))
        _refused(_ok(client, sign({**claims, "exp": int(time.time()) - 5, "iat": int(time.time()) - 905})))
        assert _ok(client, sign(claims)).status_code == 200  # the same signer with valid claims passes
        session.close()
    missing = client.get("/v1/disputes")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "auth.missing_token"


def test_signing_key_rotation_keeps_live_tokens_valid(env):
    app, client, issued = env
    before = token_of(client, issued)
    with app.state.sessions() as session:
        new_kid = tokens.rotate_signing_key(session)
    after = token_of(client, issued)
    assert jwt.get_unverified_header(after)["kid"] == new_kid != jwt.get_unverified_header(before)["kid"]
    kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
    assert {new_kid, jwt.get_unverified_header(before)["kid"]} <= kids
    assert _ok(client, before).status_code == 200 and _ok(client, after).status_code == 200


def test_rotation_overlap_then_revocation_on_the_next_request(env):
    app, client, issued = env
    old_token = token_of(client, issued)
    with app.state.sessions() as session:
        new = identity.rotate_key(session, issued["key_id"], overlap_h=24).to_json()
    assert _ok(client, old_token).status_code == 200  # old key and its tokens valid in the overlap
    assert _ok(client, token_of(client, issued)).status_code == 200
    new_token = token_of(client, new)
    with app.state.sessions() as session:
        identity.revoke_key(session, issued["key_id"])
    _refused(_ok(client, old_token))  # a live token of a revoked key: refused at once
    assert client.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": issued["key_id"],
                                                 "client_secret": issued["api_key"]}).status_code == 401
    assert _ok(client, new_token).status_code == 200
    with app.state.sessions() as session:
        identity.rotate_key(session, new["key_id"], overlap_h=0)
    _refused(_ok(client, new_token))  # no overlap: the replaced key ends now


def test_the_rate_limit_answers_429_with_retry_after(tmp_path):
    app = make_app(tmp_path, rate_limit="3/minute")
    issued = add_tenant(app, "acme")
    with client_of(app) as client:
        token = token_of(client, issued)
        codes = [_ok(client, token).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = _ok(client, token)
        assert limited.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        other = token_of(client, add_tenant(app, "globex"))
        assert _ok(client, other).status_code == 200  # per key, not global


def test_an_instance_without_the_active_keys_private_half_signs_with_a_key_of_its_own(env, tmp_path, monkeypatch):
    _, client, issued = env
    first = token_of(client, issued)
    assert _ok(client, first).status_code == 200
    # Another instance on the same database whose keys folder is not this one's.
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "other-instance-keys"))
    second = token_of(client, issued)
    assert jwt.get_unverified_header(second)["kid"] != jwt.get_unverified_header(first)["kid"]
    assert _ok(client, second).status_code == 200  # it verifies: signed by a key this instance holds
    assert _ok(client, first).status_code == 200  # the first key stays published for its tokens' TTL

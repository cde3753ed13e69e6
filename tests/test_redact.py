"""Secrets that RPC URLs carry never survive redaction; what names the node does."""

from __future__ import annotations

import pytest

from dalrn_core.redact import redact, redact_url, redacted_error

KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"  # the shape of an Infura project id


@pytest.mark.parametrize("url, expected", [
    (f"https://mainnet.infura.io/v3/{KEY}", "https://mainnet.infura.io/v3/***"),
    ("https://eth-sepolia.g.alchemy.com/v2/Zx9_kQ-2mPLr7TtVwYb8CdEf", "https://eth-sepolia.g.alchemy.com/v2/***"),
    ("https://user:s3cret@node.example:8545/rpc", "https://node.example:8545/rpc"),
    ("https://rpc.example/?apikey=abc&x=1", "https://rpc.example/?***"),
    ("https://rpc.example/path#token", "https://rpc.example/path?***"),
    ("http://127.0.0.1:8545", "http://127.0.0.1:8545"),
    ("http://[::1]:8545/", "http://[::1]:8545/"),
    ("https://polygon-amoy.example/rpc/v1", "https://polygon-amoy.example/rpc/v1"),
])
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_urls_inside_messages_and_paths_quoted_by_requests_are_redacted():
    message = (f"eth_call failed at https://u:p4ss@h.example/v3/{KEY}?k=1: HTTPConnectionPool(host='h.example', "
               f"port=443): Max retries exceeded with url: /v3/{KEY}?k=1 (Caused by timeout)")
    cleaned = redact(message)
    assert KEY not in cleaned and "p4ss" not in cleaned and "k=1" not in cleaned
    assert "https://h.example/v3/***?***" in cleaned and "with url: /v3/***?***" in cleaned
    assert "host='h.example'" in cleaned  # which node failed is still said


def test_redacted_error_redacts_before_it_cuts():
    # Cut first, the limit would fall inside the key and leave a stub too short to look like one.
    url = f"https://h.example/v3/{KEY}"
    text = redacted_error(ConnectionError("x" * 450 + " " + url), limit=500)
    assert text.endswith("https://h.example/v3/***") and KEY[:11] not in text


def test_punctuation_after_a_url_stays_the_message_s():
    assert redact("failed at http://127.0.0.1:8545: refused") == "failed at http://127.0.0.1:8545: refused"
    assert redact(f"(see https://h.example/v3/{KEY}).") == "(see https://h.example/v3/***)."


# Prefect auth strings, credentials and key material: masked in every form they are written in.

def test_prefect_auth_strings_from_the_environment_are_masked_whole_in_part_and_as_basic_auth(monkeypatch):
    import base64
    import secrets

    client, server = f"dalrn:{secrets.token_urlsafe(24)}", f"admin:{secrets.token_urlsafe(24)}"
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", client)
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", server)
    for value in (client, server):
        password = value.split(":", 1)[1]
        header = base64.b64encode(value.encode()).decode()
        message = (f"401 with auth {value}; password {password}; sent {{'authorization': '{header}'}}; "
                   f"url http://127.0.0.1:4200/api")
        cleaned = redact(message)
        assert password not in cleaned and header not in cleaned and header.rstrip("=") not in cleaned
        assert "http://127.0.0.1:4200/api" in cleaned and "401 with auth" in cleaned


def test_authorization_credentials_and_tokens_are_masked_but_words_are_not():
    jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhY21lIn0.c2lnbmF0dXJlLWJ5dGVz"
    cleaned = redact(f"Authorization: Basic ZGFscm46czNjcmV0LXZhbHVl and Bearer {jwt}; token {jwt}")
    assert "ZGFscm46" not in cleaned and "eyJ" not in cleaned and cleaned.count("***") == 3
    plain = "Basic information about Bearer tokens"
    assert redact(plain) == plain


def test_pem_blocks_lose_their_body_even_when_cut():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()).decode()
    body = pem.splitlines()[1]
    cleaned = redact(f"cannot load {pem} as a key")
    assert body not in cleaned and cleaned == "cannot load -----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----\n as a key"
    assert body not in redact(pem[: len(pem) // 2]) and body[:10] not in redacted_error(ValueError(pem), limit=60)
    escaped = pem.replace("\n", "\\n")  # a PEM quoted inside JSON
    assert body not in redact(escaped) and redact(escaped).startswith("-----BEGIN PRIVATE KEY-----***")


def test_secret_settings_are_masked_and_field_rules_are_not():
    cleaned = redact('PREFECT_SERVER_API_AUTH_STRING=admin:hunter2hunter2 {"private_key": "0x4c0883a6"} '
                     "{'client_secret': 'abc123'} DALRN_GATEWAY_TOKEN_RATE_LIMIT=60/minute")
    for secret in ("hunter2", "0x4c0883a6", "abc123"):
        assert secret not in cleaned
    assert "DALRN_GATEWAY_TOKEN_RATE_LIMIT=60/minute" in cleaned
    rule = "api_key: must be KEY_ID:SECRET (from dalrn admin tenant create)"
    assert redact(rule) == rule


def test_every_key_the_process_loads_is_masked_as_text_hex_and_base64(tmp_path, monkeypatch):
    import base64

    from cryptography.hazmat.primitives import serialization

    from dalrn_core import tenant_home
    from dalrn_core.chain.anchor import anchorer_account
    from dalrn_core.keys import load_or_create

    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("DALRN_TENANT_HOME", str(tmp_path / "tenant"))
    server_key = load_or_create("redact-test.key", lambda: __import__("os").urandom(32))
    anchorer = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    anchorer_account(anchorer)
    data_key = tenant_home.dispute_data_key("acme", "redact-001")
    envelope = tenant_home.envelope_key("acme").private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    for key in (server_key, anchorer, data_key, envelope):
        forms = [key.hex(), "0x" + key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode()]
        cleaned = redact(" | ".join(f"key {f} failed" for f in forms))
        assert not any(f in cleaned for f in forms) and cleaned.count("***") == 4, cleaned
        assert key.hex() not in redacted_error(ValueError(f"bad key {key.hex()}"))


def test_log_records_are_redacted_when_made_traceback_included(monkeypatch):
    import logging

    from dalrn_core.redact import RedactingLogRecords, redact_logs

    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "dalrn:log-marker-7f3a9c2e")
    previous = logging.getLogRecordFactory()
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    logger = logging.getLogger("dalrn.test.redact")
    handler = Keep()
    logger.addHandler(handler)
    try:
        redact_logs()
        redact_logs()  # idempotent: one wrapper, not two
        factory = logging.getLogRecordFactory()  # one wrapper, whoever installed it first (the gateway app does)
        assert isinstance(factory, RedactingLogRecords) and not isinstance(factory.wrapped, RedactingLogRecords)
        logger.warning("calling %s with %s", f"https://u:p@h.example/v3/{KEY}", "dalrn:log-marker-7f3a9c2e")
        try:
            raise ConnectionError("refused: Authorization: Basic ZGFscm46bG9nLW1hcmtlcg== log-marker-7f3a9c2e")
        except ConnectionError:
            logger.exception("anchoring failed")
    finally:
        logging.setLogRecordFactory(previous)
        logger.removeHandler(handler)
    text = "\n".join(records)
    assert "log-marker" not in text and KEY not in text and "ZGFscm46" not in text and "p@" not in text
    assert "anchoring failed" in text and "ConnectionError: refused" in text  # what happened is still said


def test_the_cli_error_message_names_the_node_and_not_its_secret(tmp_path, monkeypatch, capsys):
    from dalrn_cli.main import main
    from tests.gateway.prefect_server import free_port

    file = tmp_path / "dispute.json"
    file.write_text('{"id": "redact-cli-001"}')
    monkeypatch.setenv("DALRN_API_KEY", "kid:cli-secret-4d9e")
    monkeypatch.setenv("DALRN_TENANT_HOME", str(tmp_path / "tenant"))
    url = f"http://leak:pw-{KEY}@127.0.0.1:{free_port()}/v3/{KEY}"
    assert main(["status", "redact-cli-001", "--api", url]) != 0
    err = capsys.readouterr().err
    assert "cannot reach the gateway" in err and "127.0.0.1" in err, err
    assert KEY not in err and "pw-" not in err and "cli-secret" not in err

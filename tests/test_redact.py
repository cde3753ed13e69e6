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

"""The CLI's gateway client: key parsing, a default idempotency key that survives a retry."""

from __future__ import annotations

import json

import pytest

from dalrn_cli.api_client import api_key_from_env
from dalrn_cli.submit import api_url, default_idempotency_key
from dalrn_core.errors import InputError


def test_api_key_is_key_id_and_secret(monkeypatch):
    monkeypatch.setenv("DALRN_API_KEY", "key_abc:s3cr:et")
    assert api_key_from_env() == ("key_abc", "s3cr:et")  # only the first colon splits
    for bad in ("", "no-colon", ":secret", "key:"):
        monkeypatch.setenv("DALRN_API_KEY", bad)
        with pytest.raises(InputError, match="DALRN_API_KEY"):
            api_key_from_env()


def test_default_key_depends_on_content_not_formatting():
    dispute = {"id": "d-1", "parties": [{"id": "a"}, {"id": "b"}]}
    reformatted = json.loads(json.dumps(dispute, indent=4, sort_keys=True))
    assert default_idempotency_key(dispute) == default_idempotency_key(reformatted)
    assert default_idempotency_key(dispute) != default_idempotency_key({**dispute, "id": "d-2"})


def test_api_url_is_required_and_http(monkeypatch):
    monkeypatch.delenv("DALRN_API_URL", raising=False)
    with pytest.raises(InputError, match="--api"):
        api_url(None)
    with pytest.raises(InputError, match="http"):
        api_url("ftp://example")
    monkeypatch.setenv("DALRN_API_URL", "http://127.0.0.1:8000")
    assert api_url(None) == "http://127.0.0.1:8000"

"""docs/api/openapi.json is the app's schema; regenerate with `python -m gateway.openapi`."""

from __future__ import annotations

import json

from gateway.openapi import DEFAULT, render


def test_the_exported_openapi_document_is_current():
    current = render()
    assert DEFAULT.read_text() == current, "docs/api/openapi.json is stale: run `python -m gateway.openapi`"
    paths = json.loads(current)["paths"]
    assert {"/v1/disputes", "/v1/disputes/{dispute_id}", "/v1/oauth/token", "/.well-known/jwks.json"} <= set(paths)
    for path, methods in paths.items():
        for method, spec in methods.items():
            if path.startswith("/v1/") and path != "/v1/oauth/token" and not path.startswith("/v1/proofs"):
                assert "401" in spec["responses"], (method, path)  # every protected operation documents 401

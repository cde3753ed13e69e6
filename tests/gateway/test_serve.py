"""`dalrn serve`'s Prefect server is closed: no auth string, no API; the right one, the API."""

from __future__ import annotations

import asyncio
import base64
import json
import stat
import urllib.error
import urllib.request

import pytest

from dalrn_cli.serve import AUTH_FILE, basic_auth_header, prefect_auth_string
from dalrn_core.keys import keys_dir
from tests.gateway.prefect_server import closed_prefect_server


def _status(url: str, headers: dict | None = None, body: dict | None = None) -> int:
    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_auth_string_is_made_once_and_private():
    first = prefect_auth_string()
    assert prefect_auth_string() == first
    user, _, password = first.partition(":")
    assert user and len(password) >= 32
    mode = stat.S_IMODE((keys_dir() / AUTH_FILE).stat().st_mode)
    assert mode == 0o600


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_prefect_api_refuses_requests_without_the_auth_string():
    with closed_prefect_server() as (api, auth):
        url = f"{api}/flows/filter"
        assert _status(url) == 401
        wrong = {"Authorization": "Basic " + base64.b64encode(b"dalrn:not-the-secret").decode()}
        assert _status(url, wrong) == 401
        assert _status(url, {"Authorization": "Bearer " + auth}) == 401
        assert _status(url, basic_auth_header(auth)) == 200

        async def read_with_client():  # Prefect's own client, configured by PREFECT_API_AUTH_STRING
            from prefect.client.orchestration import get_client

            async with get_client() as client:
                return await client.read_flows()

        assert isinstance(asyncio.run(read_with_client()), list)

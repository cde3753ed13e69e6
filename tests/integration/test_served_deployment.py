"""A real local Prefect server on loopback serves the deployment; a run started through
the REST API completes and anchors its receipts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from dalrn_cli.serve import basic_auth_header, prefect_auth_string

SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())


def _wait_for(api: str, run_id: str, states: set[str], deadline: float) -> str:
    state = None
    while time.monotonic() < deadline:
        state = _request(f"{api}/flow_runs/{run_id}")["state"]["type"]
        if state in states:
            break
        time.sleep(1)
    return state


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _request(url: str, body: dict | None = None, attempts: int = 5) -> dict:
    """One API call; a 503 (the SQLite server busy under load) is retried a few times."""
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET",
                                         headers={"Content-Type": "application/json",
                                                  **basic_auth_header(prefect_auth_string())})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 503 or attempt == attempts - 1:
                raise
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


@pytest.mark.integration
def test_rest_triggered_run_completes(tmp_path, small_index):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": ""}
    env.pop("PREFECT_API_URL")
    server = subprocess.Popen([sys.executable, "-m", "dalrn_cli.main", "serve", "--prefect-port", str(port),
                               "--port", str(_free_port())],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 400
        deployment = None
        while time.monotonic() < deadline and deployment is None:
            assert server.poll() is None, "dalrn serve exited early"
            try:
                deployment = _request(f"{api}/deployments/name/dispute-resolution/dispute-resolution")
            except OSError:
                time.sleep(1)
        assert deployment is not None, "the deployment never appeared"
        dispute = {**SAMPLE, "id": "rest-run-001"}
        run = _request(f"{api}/deployments/{deployment['id']}/create_flow_run",
                       {"parameters": {"dispute": dispute}})
        final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
        assert _wait_for(api, run["id"], final, deadline) == "COMPLETED"
        # The tenant's encrypted search goes through the gateway: tests/gateway/test_end_to_end.py.
    finally:
        server.terminate()
        server.wait(timeout=60)
    from dalrn_core.podp.verify import verify_dispute

    assert verify_dispute("rest-run-001")

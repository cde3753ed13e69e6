"""`dalrn serve`: a local Prefect server on loopback and every DALRN deployment served.

Open the printed UI address, pick `dispute-resolution`, press Run and paste a dispute; or
start the same deployment through the REST API (see the README). Ctrl-C stops both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

HOST = "127.0.0.1"


def _wait_healthy(url: str, server: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the Prefect server exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not answer at {url} within {timeout_s:.0f} s")


def start_server(port: int) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` on loopback; returns the process and its API URL."""
    api = f"http://{HOST}:{port}/api"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ.copy(),
    )
    _wait_healthy(api, server)
    return server, api


def serve(port: int = 4200) -> int:
    server, api = start_server(port)
    os.environ["PREFECT_API_URL"] = api
    print(f"Prefect UI:  http://{HOST}:{port}")
    print(f"REST API:    {api}")
    try:
        from deployments.served import serve_all

        serve_all()
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=30)
    return 0

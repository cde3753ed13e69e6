"""`dalrn serve`: Prefect (closed by its API auth string), the gateway and every deployment.

The Prefect server runs on loopback with `PREFECT_SERVER_API_AUTH_STRING`; the served
deployments, the gateway and the operator's CLI reach it with `PREFECT_API_AUTH_STRING`.
The string is generated once and kept in the keys folder (0600), so firms, which reach
only the gateway, never hold it. Ctrl-C stops everything.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dalrn_core.keys import keys_dir, load_or_create

HOST = "127.0.0.1"
AUTH_FILE = "prefect-api-auth"
BOOTSTRAP_FILE = "gateway-bootstrap-admin.json"
BOOTSTRAP_TENANT = "operator"


def prefect_auth_string() -> str:
    """The Prefect API auth string (`user:password`), created on first use with mode 0600."""
    raw = load_or_create(AUTH_FILE, lambda: f"dalrn:{secrets.token_urlsafe(32)}".encode())
    return raw.decode().strip()


def basic_auth_header(auth_string: str) -> dict[str, str]:
    """The Authorization header Prefect's server expects for `auth_string`."""
    return {"Authorization": "Basic " + base64.b64encode(auth_string.encode()).decode()}


def client_env(api_url: str, auth_string: str, base: dict | None = None) -> dict[str, str]:
    """The environment of a process that talks to the closed Prefect API."""
    env = dict(os.environ if base is None else base)
    env.update({"PREFECT_API_URL": api_url, "PREFECT_API_AUTH_STRING": auth_string})
    return env


def _wait_healthy(url: str, process: subprocess.Popen, what: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the {what} exited with status {process.returncode}")
        try:  # the health path answers without credentials, so probes need no secret
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the {what} did not answer at {url} within {timeout_s:.0f} s")


def start_server(port: int, auth_string: str | None = None, *, quiet: bool = True) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` on loopback, closed by `auth_string`; returns it and its API URL."""
    api = f"http://{HOST}:{port}/api"
    env = os.environ.copy()
    env.pop("PREFECT_API_URL", None)
    # The UI is a static app that calls the API from the browser: tell it the served port.
    env["PREFECT_UI_API_URL"] = api
    if auth_string is not None:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    out = subprocess.DEVNULL if quiet else None
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port)],
        stdout=out, stderr=out, env=env,
    )
    _wait_healthy(f"{api}/health", server, "Prefect server")
    return server, api


def start_gateway(port: int, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """Start the gateway with uvicorn on loopback; returns it and its base URL."""
    url = f"http://{HOST}:{port}"
    gateway = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory", "--host", HOST,
         "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    _wait_healthy(f"{url}/healthz", gateway, "gateway")
    return gateway, url


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def ensure_bootstrap_admin(env: dict[str, str] | None = None) -> Path:
    """The bootstrap admin key file (0600), created on first start with `dalrn admin tenant create`.

    The key is written to the file and never printed: the operator reads it from there.
    """
    path = keys_dir() / BOOTSTRAP_FILE
    if path.exists():
        return path
    done = subprocess.run(
        [sys.executable, "-m", "dalrn_cli.main", "admin", "tenant", "create", BOOTSTRAP_TENANT,
         "--role", "admin", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not create the bootstrap admin tenant {BOOTSTRAP_TENANT!r} "
                           f"(if it exists but {path} was lost, rotate its key with `dalrn admin key rotate`): "
                           f"{done.stderr.strip()[-500:]}")
    created = json.loads(done.stdout)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another `dalrn serve` wrote it first
        return path
    with os.fdopen(fd, "w") as handle:
        json.dump({k: created[k] for k in ("tenant", "key_id", "api_key")}, handle, indent=2)
        handle.write("\n")
    return path


def serve(port: int = 8000, prefect_port: int = 4200) -> int:
    auth = prefect_auth_string()
    server, api = start_server(prefect_port, auth)
    gateway = None
    try:
        os.environ.update(client_env(api, auth, base={}))
        admin_key = ensure_bootstrap_admin(os.environ.copy())
        gateway, url = start_gateway(port, os.environ.copy())
        print(f"Gateway:     {url}  (API docs {url}/docs)")
        print(f"Prefect UI:  http://{HOST}:{prefect_port}  (auth string in {keys_dir() / AUTH_FILE})")
        print(f"Prefect API: {api}")
        print(f"Bootstrap admin key: {admin_key}  (DALRN_API_KEY=KEY_ID:SECRET from its key_id and api_key)")
        sys.stdout.flush()
        from deployments.served import serve_all

        serve_all()
    except KeyboardInterrupt:
        pass
    finally:
        _stop(gateway)
        _stop(server)
    return 0

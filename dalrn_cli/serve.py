"""`dalrn serve`: Prefect (closed by its API auth string), the gateway and every deployment.

The Prefect server runs on loopback with `PREFECT_SERVER_API_AUTH_STRING`; the served
deployments, the gateway and the operator's CLI reach it with `PREFECT_API_AUTH_STRING`.
The string is generated once and kept in the keys folder (0600), so firms, which reach
only the gateway, never hold it. Ctrl-C stops everything.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from dalrn_core.config import data_dir
from dalrn_core.errors import InputError
from dalrn_core.keys import keys_dir, load_or_create

if TYPE_CHECKING:
    from dalrn_cli.stack import LocalServer

HOST = "127.0.0.1"
GATEWAY_PORT = 8000
PREFECT_PORT = 4200
AUTH_FILE = "prefect-api-auth"
BOOTSTRAP_FILE = "gateway-bootstrap-admin.json"
BOOTSTRAP_TENANT = "operator"
BACKENDS = ("sqlite", "postgres")
STACK_DIR = "stack"  # PostgreSQL's and Redis's folders under the data folder


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


def start_server(port: int, auth_string: str | None = None, *, quiet: bool = True,
                 workers: int = 1) -> tuple[subprocess.Popen, str]:
    """Start `prefect server start` on loopback, closed by `auth_string`; returns it and its API URL.

    `workers` > 1 runs that many API processes and no services (Prefect's rule, which needs
    PostgreSQL and Redis): start those with `start_services`.
    """
    api = f"http://{HOST}:{port}/api"
    env = os.environ.copy()
    env.pop("PREFECT_API_URL", None)
    # The UI is a static app that calls the API from the browser: tell it the served port.
    env["PREFECT_UI_API_URL"] = api
    if auth_string is not None:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    out = subprocess.DEVNULL if quiet else None
    if workers > 1:
        # The API processes would race to migrate a new database and register block types:
        # one process does both first, then the others start without.
        first = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port",
                                  str(port), "--no-services"], stdout=out, stderr=out, env=env)
        try:
            _wait_healthy(f"{api}/health", first, "Prefect server (migrating)")
        finally:
            _stop(first)
        env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] = "false"
        env["PREFECT_SERVER_REGISTER_BLOCKS_ON_START"] = "false"
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port),
         *(["--workers", str(workers)] if workers > 1 else [])],
        stdout=out, stderr=out, env=env,
    )
    _wait_healthy(f"{api}/health", server, "Prefect server")
    return server, api


def start_services(*, quiet: bool = True) -> subprocess.Popen:
    """Prefect's loop services (task run recorder, event persister, scheduler...) in a process
    of their own, beside API processes started with `workers` > 1."""
    out = subprocess.DEVNULL if quiet else None
    services = subprocess.Popen([sys.executable, "-m", "prefect", "server", "services", "start"],
                                stdout=out, stderr=out, env=os.environ.copy())
    time.sleep(3)  # they have no port to probe: a bad configuration ends the process at once
    if services.poll() is not None:
        raise RuntimeError(f"Prefect's services exited with status {services.returncode}")
    return services


# What configures each server when the operator runs their own; any one missing starts ours.
POSTGRES_KEYS = ("PREFECT_API_DATABASE_CONNECTION_URL", "DALRN_GATEWAY_DATABASE_URL")
REDIS_KEYS = ("PREFECT_REDIS_MESSAGING_URL",)


def use_postgres_backend(folder: Path) -> list[LocalServer]:
    """Put this process's environment on PostgreSQL and Redis for Prefect and the gateway.

    Servers the operator configured (`POSTGRES_KEYS`, `REDIS_KEYS` set) are used as they
    are; the others start in `folder` (or are found running there). Variables already set
    win over ours. Returns the servers started or found here, for the caller to stop.
    """
    from dalrn_cli.stack import start_postgres, start_redis
    from dalrn_cli.stack_env import gateway_env, prefect_server_env

    started: list[LocalServer] = []
    if all(os.environ.get(key) for key in POSTGRES_KEYS):
        prefect_db, gateway_db = (os.environ[key] for key in POSTGRES_KEYS)
    else:
        postgres = start_postgres(folder / "postgres")
        started.append(postgres)
        prefect_db, gateway_db = postgres.asyncpg_url, postgres.url
    if all(os.environ.get(key) for key in REDIS_KEYS):
        redis_url = os.environ[REDIS_KEYS[0]]
    else:
        redis_server = start_redis(folder / "redis")
        started.append(redis_server)
        redis_url = redis_server.url
    for key, value in {**prefect_server_env(prefect_db, redis_url), **gateway_env(gateway_db, redis_url)}.items():
        os.environ.setdefault(key, value)
    return started


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the service the way Ctrl-C does, servers included


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
    _stop_all([process])


def _stop_all(processes: list[subprocess.Popen | None], timeout_s: float = 30.0) -> None:
    """SIGTERM them all at once, then SIGKILL whatever is still running after `timeout_s`.

    At once, so that shutting down the service takes the slowest stop, not their sum.
    """
    running = [process for process in processes if process is not None and process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + timeout_s
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _stop_flow_runs(timeout_s: float = 15.0) -> None:
    """Stop the flow runs the runner started as this process's children, before the
    databases they write to go away; a run stopped here is picked up by the reconcile
    pass at the next start. Without this an orphaned run outlives `dalrn serve` and
    keeps its output pipe open."""
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=timeout_s)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()


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


def serve(port: int = GATEWAY_PORT, prefect_port: int = PREFECT_PORT, backend: str = "sqlite", prefect_workers: int = 1) -> int:
    """The whole service; `backend="postgres"` runs it on PostgreSQL and Redis (see `use_postgres_backend`)."""
    if backend not in BACKENDS:
        raise InputError.one("--backend", f"must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if prefect_workers < 1 or (prefect_workers > 1 and backend != "postgres"):
        raise InputError.one("--prefect-workers", "must be 1, or more with --backend postgres (several Prefect API "
                             "processes share their state through PostgreSQL and Redis)")
    auth = prefect_auth_string()
    started: list[LocalServer] = []
    server = services = gateway = None
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if backend == "postgres":
            started = use_postgres_backend(data_dir() / STACK_DIR)
            for running in started:
                print(f"{running.kind.capitalize() + ':':<13}{running.host}:{running.port}  (data in {running.folder})")
        server, api = start_server(prefect_port, auth, workers=prefect_workers)
        if prefect_workers > 1:
            services = start_services()
        os.environ.update(client_env(api, auth, base={}))
        admin_key = ensure_bootstrap_admin(os.environ.copy())
        gateway, url = start_gateway(port, os.environ.copy())
        print(f"Gateway:     {url}  (API docs {url}/docs)")
        print(f"Portal:      {url}/  (the parties sign in with their tenant's API key)")
        print(f"Prefect UI:  http://{HOST}:{prefect_port}  (auth string in {keys_dir() / AUTH_FILE})")
        print(f"Prefect API: {api}")
        print(f"Bootstrap admin key: {admin_key}  (DALRN_API_KEY=KEY_ID:SECRET from its key_id and api_key)")
        sys.stdout.flush()
        from deployments.served import serve_all

        serve_all()
    except KeyboardInterrupt:
        pass
    finally:
        _stop_all([gateway, services, server])
        _stop_flow_runs()
        for running in reversed(started):
            running.stop()
    return 0


def where_to_look() -> list[str]:
    """Where `dalrn serve` (`make serve`) shows runs and disputes, with its default ports."""
    gateway = f"http://{HOST}:{GATEWAY_PORT}"
    return [
        "to follow disputes in a browser, run `make serve`, then open:",
        f"  Prefect UI   http://{HOST}:{PREFECT_PORT}  (every run and its artifacts)",
        f"  portal       {gateway}/  (the parties' pages; sign in with a tenant's API key)",
    ]

"""A real Prefect server closed by an auth string, on a free loopback port, for one test module."""

from __future__ import annotations

import contextlib
import socket

from dalrn_cli.serve import _stop, prefect_auth_string, start_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def closed_prefect_server():
    """Yields (api_url, auth_string) with this process's Prefect client pointed at it."""
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    auth = prefect_auth_string()
    server, api = start_server(free_port(), auth)
    try:
        with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: auth}):
            yield api, auth
    finally:
        _stop(server)

"""A Prefect server on the session's PostgreSQL and Redis (tests/conftest.py), for one module."""

from __future__ import annotations

import pytest

from dalrn_cli.environment import environment
from dalrn_cli.serve import _stop, prefect_auth_string, start_server
from dalrn_cli.stack import free_port
from dalrn_cli.stack_env import prefect_server_env


@pytest.fixture(scope="module")
def prefect_on_postgres(postgres_server, redis_server):
    """Yields (api_url, auth_string, server_env) with this process's Prefect client pointed at it."""
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    server_env = prefect_server_env(postgres_server.asyncpg_url, redis_server.url)
    auth = prefect_auth_string()
    with environment(server_env):  # start_server hands this process's environment to the server
        server, api = start_server(free_port(), auth)
    try:
        with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: auth}):
            # A process's events worker keeps the API it first sent to (an earlier test's server
            # under xdist): drain it so this module's events reach this server.
            EventsWorker.drain_all(timeout=10)
            yield api, auth, server_env
            EventsWorker.drain_all(timeout=10)
    finally:
        _stop(server)

"""Test-wide settings: every test session gets its own data folder and key folder, and
Prefect keeps its state there, never in the user's home."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_ROOT = tempfile.mkdtemp(prefix="dalrn-tests-")
os.environ["DALRN_HOME"] = os.path.join(_ROOT, "home")
os.environ["DALRN_KEYS_DIR"] = os.path.join(_ROOT, "keys")
# The tenant's own folder (its CKKS and envelope keys), apart from the server's.
os.environ["DALRN_TENANT_HOME"] = os.path.join(_ROOT, "tenant")
# Embeddings depend on the text alone, so one cache in the checkout serves every session.
os.environ.setdefault(
    "DALRN_EMBEDDINGS_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".dalrn", "embeddings")
)

from dalrn_cli.environment import configure

configure()


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server per test process (per xdist worker), shared by every flow test."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):  # the machine is shared and busy
        yield


@pytest.fixture(scope="session")
def harness(prefect_harness):
    """The name the flow, chain and search tests request."""
    yield


@pytest.fixture()
def data_home(tmp_path, monkeypatch):
    """A fresh DALRN_HOME for one test, so ledgers, records and models never leak between tests."""
    home = tmp_path / "home"
    monkeypatch.setenv("DALRN_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def small_index():
    """The first 300 SPDX paragraphs, embedded with MiniLM and indexed with FAISS."""
    from dalrn_core.search.build import build_precedent_index
    from dalrn_core.search.index import PrecedentIndex

    index = PrecedentIndex.latest()
    if index is None or len(index) != 300:
        index = build_precedent_index(limit=300)
    return index


@pytest.fixture(scope="session")
def redis_server():
    """A real redis-server (append-only file, password) on a free loopback port for the test session."""
    from dalrn_cli.stack import redis_available, start_redis

    reason = redis_available()
    if reason:
        pytest.skip(reason)
    folder = _server_folder("redis")
    try:
        with start_redis(folder / "server") as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL 15 (databases `dalrn` and `prefect`, password) on a free loopback port."""
    from dalrn_cli.stack import postgres_available, start_postgres

    reason = postgres_available()
    if reason:
        pytest.skip(reason)
    folder = _server_folder("postgres")
    try:
        with start_postgres(folder / "server") as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _server_folder(kind: str):
    """A folder the server's unprivileged user can enter (pytest's tmp folders are 0700 root's)."""
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix=f"dalrn-{kind}-"))
    folder.chmod(0o711)
    return folder


@pytest.fixture(autouse=True)
def closed_breakers():
    """Every test starts with the process's circuit breakers closed: failures a test provokes
    on purpose (an unreachable chain) must not refuse the next test's calls."""
    from dalrn_core.observability.breakers import BREAKERS

    for breaker in BREAKERS.values():
        breaker.close()
    yield

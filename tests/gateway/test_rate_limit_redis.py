"""Rate limits kept in Redis hold across gateway instances: a key that spent its window on
one instance gets 429 with Retry-After from the other.

A real `redis-server` (Debian's package) runs on a loopback port in a temporary folder,
persisting nothing, for the module; the test is skipped where the server is not installed.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import redis

from tests.gateway.gateway_app import add_tenant, bearer, client_of, make_app, token_of
from tests.gateway.prefect_server import free_port

pytestmark = pytest.mark.timeout(120)

REDIS_SERVER = shutil.which("redis-server")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    server = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(folder)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if redis.Redis.from_url(url).ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _two_instances(tmp_path, storage: str):
    """Two gateway apps over one database (two replicas) with one limit of 3 requests a minute."""
    settings = {"rate_limit": "3/minute", "rate_limit_storage": storage}
    first, second = make_app(tmp_path, **settings), make_app(tmp_path, **settings)
    return first, second


def test_the_window_is_shared_through_redis(tmp_path, redis_url):
    redis.Redis.from_url(redis_url).flushdb()
    first, second = _two_instances(tmp_path, redis_url)
    with client_of(first) as a, client_of(second) as b:
        headers = bearer(token_of(a, add_tenant(first, "acme")))
        assert [c.get("/v1/disputes", headers=headers).status_code for c in (a, b, a)] == [200, 200, 200]
        for client in (b, a):  # the window is spent on both instances alike
            refused = client.get("/v1/disputes", headers=headers)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert list(redis.Redis.from_url(redis_url).scan_iter("*dalrn*"))  # counted in Redis, not in the app


def test_in_memory_windows_are_per_instance(tmp_path):
    """The control: without shared storage each instance counts only its own requests."""
    first, second = _two_instances(tmp_path, "memory://")
    with client_of(first) as a, client_of(second) as b:
        headers = bearer(token_of(a, add_tenant(first, "acme")))
        assert [a.get("/v1/disputes", headers=headers).status_code for _ in range(3)] == [200] * 3
        assert a.get("/v1/disputes", headers=headers).status_code == 429
        assert b.get("/v1/disputes", headers=headers).status_code == 200

"""The real PostgreSQL and Redis servers of `dalrn_cli.stack`: loopback only, password
required, data kept across a restart, a running server reused from its folder."""

from __future__ import annotations

import psycopg
import pytest
import redis

from dalrn_cli.stack import start_postgres, start_redis

pytestmark = pytest.mark.timeout(120)


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_redis_keeps_the_queue_across_a_restart_and_asks_for_its_password(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    entry = client.xadd("dalrn-test-stream", {"dispute": "acme/d-1"})
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=redis_server.host, port=redis_server.port).ping()
    assert start_redis(redis_server.folder).pid == redis_server.pid  # reused, not started twice

    redis_server.stop()
    assert not redis_server.running()
    again = start_redis(redis_server.folder, port=redis_server.port)
    assert again.pid != redis_server.pid
    redis_server.pid = again.pid  # the session fixture stops the server that runs now
    restored = redis.Redis.from_url(again.url).xrange("dalrn-test-stream")
    assert [(i.decode(), f) for i, f in restored] == [(entry.decode(), {b"dispute": b"acme/d-1"})]


def test_postgres_has_both_databases_behind_a_password_and_is_reused(postgres_server):
    for url in (postgres_server.url, postgres_server.database_url("prefect")):
        with psycopg.connect(_plain(url), connect_timeout=10) as connection:
            assert connection.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
            assert connection.execute("SELECT current_database()").fetchone()[0] in {"dalrn", "prefect"}
    wrong = _plain(postgres_server.url).replace(postgres_server.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=10)
    assert postgres_server.asyncpg_url.startswith("postgresql+asyncpg://")
    assert postgres_server.asyncpg_url.endswith("/prefect")
    assert start_postgres(postgres_server.folder).pid == postgres_server.pid

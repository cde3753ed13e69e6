"""The environment that puts Prefect's server and the gateway on PostgreSQL and Redis.

`dalrn serve --backend postgres`, the stack tests and the Prefect server benchmark all set
these; `dalrn_cli.stack` starts the servers themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dalrn_cli.stack import LocalServer


# Prefect server settings for volume (docs/deployment/prefect-at-volume.md gives the numbers).
# Task-run states arrive as events; the recorder inserts them one at a time by default.
PREFECT_AT_VOLUME = {
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_READ_BATCH_SIZE": "50",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
    # A dispute's receipts and memo are DALRN's record; Prefect's events are for operations.
    "PREFECT_SERVER_EVENTS_RETENTION_PERIOD": "P2D",
    # DALRN defines no automations; the triggers service evaluates every event against them
    # (about a tenth of the server's CPU under dispute load). Turn it on to add automations.
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_DATABASE_SQLALCHEMY_POOL_SIZE": "10",
    "PREFECT_SERVER_DATABASE_SQLALCHEMY_MAX_OVERFLOW": "20",
}


def prefect_server_env(database_url: str, redis_url: str, *, at_volume: bool = True) -> dict[str, str]:
    """The environment of a Prefect server on PostgreSQL (`database_url`, asyncpg) with Redis
    (`redis_url`) as its broker, cache, causal ordering, lease storage and Docket queue: what
    Prefect needs to run several API processes (`--workers`) and separate services."""
    env = {
        "PREFECT_API_DATABASE_CONNECTION_URL": database_url,
        "PREFECT_MESSAGING_BROKER": "prefect_redis.messaging",
        "PREFECT_MESSAGING_CACHE": "prefect_redis.messaging",
        "PREFECT_SERVER_EVENTS_CAUSAL_ORDERING": "prefect_redis.ordering",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect_redis.lease_storage",
        "PREFECT_REDIS_MESSAGING_URL": redis_url,
        "PREFECT_SERVER_DOCKET_URL": redis_url,
    }
    if at_volume:
        env.update(PREFECT_AT_VOLUME)
    return env


def gateway_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The gateway's identity, audit and idempotency records on PostgreSQL (`database_url`,
    psycopg); its rate limits and the dispute queue in Redis."""
    return {
        "DALRN_GATEWAY_DATABASE_URL": database_url,
        "DALRN_GATEWAY_RATE_LIMIT_STORAGE": redis_url,
        "DALRN_QUEUE_URL": redis_url,
    }


def stack_env(postgres: LocalServer, redis_server: LocalServer, *, at_volume: bool = True) -> dict[str, str]:
    """Every variable that puts Prefect's server and the gateway on these two servers."""
    return {**prefect_server_env(postgres.asyncpg_url, redis_server.url, at_volume=at_volume),
            **gateway_env(postgres.url, redis_server.url)}

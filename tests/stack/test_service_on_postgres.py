"""Dispute flows and the gateway on the production-shaped stack: Prefect's server on
PostgreSQL with Redis as its event broker, the gateway's database on the same PostgreSQL and
its rate limits in the same Redis (one Prefect server for the module)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import psycopg
import pytest
import redis

from dalrn_cli.resolve import resolve_async
from dalrn_core.dispute.parse import load_dispute_file
from dalrn_core.podp.verify import verify_dispute
from gateway.app import create_app
from gateway.runs import DisputeRuns
from gateway.settings import Settings
from tests.gateway.gateway_app import add_tenant, bearer, client_of, token_of
from tests.gateway.live_gateway import stand_in

SAMPLE_FILE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"
SAMPLE = json.loads(SAMPLE_FILE.read_text())
pytestmark = pytest.mark.timeout(300)


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_a_dispute_resolves_on_postgres_and_redis(prefect_on_postgres, postgres_server, redis_server, small_index):
    """The run, its pause for the tenant's reveal and every task run land in PostgreSQL; the
    task-run states got there through Redis Streams and the task run recorder."""
    dispute = load_dispute_file(SAMPLE_FILE)
    result = asyncio.run(resolve_async(dispute, say=lambda message: None))
    assert result["settlement"]["payoffs"] == {"acme": 6.0, "globex": 5.0}
    assert verify_dispute(dispute.id)  # receipts, artifacts and the anchored batch all check out

    prefect_db = _plain(postgres_server.database_url("prefect"))
    with psycopg.connect(prefect_db, connect_timeout=10) as connection:
        rows = connection.execute(
            "SELECT flow_run.id, flow_run.state_type FROM flow_run JOIN flow ON flow.id = flow_run.flow_id "
            "WHERE flow.name = 'dispute-resolution' ORDER BY flow_run.created DESC LIMIT 1").fetchall()
        assert rows and rows[0][1] == "COMPLETED"
        run_id = rows[0][0]
        paused = connection.execute("SELECT count(*) FROM flow_run_state WHERE flow_run_id = %s AND "
                                    "type = 'PAUSED'", (run_id,)).fetchone()
        assert paused == (1,)  # it waited for the tenant's reveal, through this server
        # Task-run states reach the database only through the broker and the task run recorder.
        deadline = time.monotonic() + 120  # the recorder flushes every second; a busy machine lags
        while True:
            states = [r[0] for r in connection.execute(
                "SELECT state_type FROM task_run WHERE flow_run_id = %s", (run_id,)).fetchall()]
            if states and all(s == "COMPLETED" for s in states) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
            connection.commit()
    assert len(states) >= 5 and set(states) == {"COMPLETED"}, states
    streams = [k.decode() for k in redis.Redis.from_url(redis_server.url).scan_iter(_type="stream")]
    assert "events" in streams


def test_two_gateways_share_identity_idempotency_and_limits(prefect_on_postgres, postgres_server, redis_server):
    """A key made through one instance authenticates on the other; one Idempotency-Key makes one
    dispute and one Prefect run whichever instance takes it; the rate-limit window is shared."""
    asyncio.run(stand_in.to_deployment(name="gateway").aapply())
    settings = Settings(database_url=postgres_server.url, rate_limit="4/minute", rate_limit_storage=redis_server.url)
    first, second = (create_app(settings, runs=DisputeRuns(deployment="dalrn-gateway-api-test/gateway"),
                                warm_up=False) for _ in range(2))
    issued = add_tenant(first, "acme")
    dispute = {**{k: v for k, v in SAMPLE.items() if k != "tenant"}, "id": "pg-idempotent-1"}
    with client_of(first) as a, client_of(second) as b:
        headers = {**bearer(token_of(b, issued)), "Idempotency-Key": "submit-once"}  # made on a, checked on b
        answers = [client.post("/v1/disputes", json=dispute, headers=headers) for client in (a, b)]
        assert [x.status_code for x in answers] == [202, 202], answers[0].text
        assert answers[0].json() == answers[1].json()
        assert [client.get("/v1/disputes", headers=headers).status_code for client in (b, a)] == [200, 200]
        refused = b.get("/v1/disputes", headers=headers)  # the fifth request of the window, on either instance
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"

    with psycopg.connect(_plain(postgres_server.url), connect_timeout=10) as connection:
        rows = connection.execute("SELECT flow_run_id FROM disputes WHERE tenant = 'acme' AND "
                                  "dispute_id = 'pg-idempotent-1'").fetchall()
        assert len(rows) == 1 and rows[0][0] is not None
        assert connection.execute("SELECT count(*) FROM idempotency WHERE key = 'submit-once'").fetchone() == (1,)
    with psycopg.connect(_plain(postgres_server.database_url("prefect")), connect_timeout=10) as connection:
        runs = connection.execute("SELECT flow_run.id::text FROM flow_run JOIN deployment ON "
                                  "deployment.id = flow_run.deployment_id WHERE deployment.name = 'gateway'").fetchall()
    assert [r[0] for r in runs] == [str(rows[0][0])]  # one run in Prefect's PostgreSQL database
    assert list(redis.Redis.from_url(redis_server.url).scan_iter("*dalrn*"))  # the window is counted in Redis

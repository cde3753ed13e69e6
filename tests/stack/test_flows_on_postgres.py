"""A real dispute flow on the production-shaped Prefect stack: the server on PostgreSQL with
Redis as its event broker. The run, its pause for the tenant's reveal and every task run
land in PostgreSQL; the events went through Redis Streams."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
import pytest
import redis

from dalrn_cli.resolve import resolve_async
from dalrn_core.dispute.parse import load_dispute_file
from dalrn_core.podp.verify import verify_dispute

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"
pytestmark = pytest.mark.timeout(300)


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def test_a_dispute_resolves_on_postgres_and_redis(prefect_on_postgres, postgres_server, redis_server, small_index):
    dispute = load_dispute_file(SAMPLE)
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
        deadline = time.monotonic() + 30
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

"""Dispute workers on the production-shaped stack: Prefect's server on PostgreSQL, the
gateway queueing to a Redis Stream, `dalrn worker` processes running each dispute in
process as the gateway's own flow run.

A short `dalrn load` run resolves every dispute with no error; a dispute's timestamps
read in order; a worker killed while it holds a dispute leaves it to another worker,
which resolves it as the same flow run, once; the shared cache holds the public
evidence's embeddings and nothing of a tenant's encrypted query.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
import redis

from dalrn_cli.load import dispute_body, run_load
from dalrn_cli.queue_stack import queue_stack, wait_workers_ready
from dalrn_core.queue import DisputeQueue
from dalrn_core.search.embed import Embedder, text_hash
from dalrn_core.search.shared_cache import PREFIX

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, postgres_server, redis_server, small_index):
    folder = tmp_path_factory.mktemp("queue-stack")
    redis.Redis.from_url(redis_server.url).delete("dalrn:disputes", "dalrn:stats", "dalrn:workers")
    with queue_stack(folder, redis_server.url, workers=1, prefect_database_url=postgres_server.asyncpg_url,
                     gateway_database_url=postgres_server.url, worker_args=("--claim-timeout", "3"),
                     extra_env={"DALRN_GATEWAY_RATE_LIMIT": "100000/minute"}) as running:
        issued = running.create_tenant("queue-acme")
        running.issued = {**issued, "tenant": "queue-acme"}
        with httpx.Client(base_url=running.api, timeout=60) as http:
            token = http.post("/v1/oauth/token", data={"grant_type": "client_credentials",
                                                        "client_id": issued["key_id"],
                                                        "client_secret": issued["api_key"]}).json()["access_token"]
            http.headers["Authorization"] = f"Bearer {token}"
            running.http = http
            yield running


def _until(probe, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def _final(stack, dispute_id: str, timeout_s: float = 120) -> dict:
    def probe():
        view = stack.http.get(f"/v1/disputes/{dispute_id}").json()
        return view if view["status"] in ("anchored", "failed", "rejected") else None
    return _until(probe, timeout_s, f"dispute {dispute_id} final")


def test_short_load_resolves_every_dispute(stack, redis_server, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", stack.prefect_api)  # the meter finds Prefect's server by its port
    summary = run_load(stack.api, rate=1.0, duration=4, plain=True, issued=[stack.issued],
                       redis_url=redis_server.url, poll_s=0.5, timeout_s=120)
    assert summary["errors"] == 0, summary["error_samples"]
    assert summary["resolved"] == summary["disputes"] == 4
    assert summary["out_of_order"] == 0
    assert 0 < summary["p50_resolved_s"] <= summary["p95_resolved_s"] <= summary["p99_resolved_s"] < 60
    assert summary["cpu_s_per_dispute"]["workers"] > 0 and summary["cpu_s_per_dispute"]["prefect_server"] > 0
    assert summary["cpu_s_per_dispute"]["tenants"] > 0  # the tenant processes report what playing cost them
    assert {"intake", "embed", "negotiate", "explain", "anchor"} <= set(summary["worker_stage_s_per_dispute"])
    # Acknowledged once each run ended (a moment after the gateway shows it anchored).
    queue = DisputeQueue(redis_server.url)
    _until(lambda: queue.depth() == {"waiting": 0, "pending": 0}, 30, "the queue drained")
    queue.close()


def test_status_timestamps_are_ordered(stack):
    before = datetime.now(UTC)
    stack.http.post("/v1/disputes", json=dispute_body("queue-times-1", 1), headers={"Idempotency-Key": "times-1"})
    early = stack.http.get("/v1/disputes/queue-times-1").json()
    if early["status"] in ("queued", "running"):
        assert early["resolved_at"] is None and early["anchored_at"] is None
    view = _final(stack, "queue-times-1")
    assert view["status"] == "anchored", view
    submitted, resolved, anchored = (datetime.fromisoformat(view[k]) for k in
                                     ("submitted_at", "resolved_at", "anchored_at"))
    # One host: the server's clock and ours agree to well under a second.
    assert before.timestamp() - 1 <= submitted.timestamp() <= resolved.timestamp() <= anchored.timestamp()
    assert anchored.timestamp() <= datetime.now(UTC).timestamp() + 1


def test_killed_workers_dispute_is_claimed_and_resolved_once(stack, redis_server):
    queue = DisputeQueue(redis_server.url)
    first = stack.workers[0]
    stack.http.post("/v1/disputes", json=dispute_body("queue-kill-1", 2), headers={"Idempotency-Key": "kill-1"})
    _until(lambda: queue.pending_of().get("w1"), 60, "w1 holding the dispute")
    _until(lambda: _status(stack, "queue-kill-1") == "running", 60, "the run started on w1")
    first.send_signal(signal.SIGKILL)  # no goodbye: its entry stays pending, its lease runs out
    first.wait(timeout=30)
    assert _status(stack, "queue-kill-1") not in ("anchored", "failed", "rejected")
    stack.start_worker("w2", "--claim-timeout", "3")
    wait_workers_ready(redis_server.url, ["w2"])
    view = _final(stack, "queue-kill-1")
    assert view["status"] == "anchored", view
    log = (stack.logs / "worker-w2.log").read_text()
    assert "claimed dispute-queue-kill-1, left pending by a worker that stopped" in log
    assert "taking over dispute-queue-kill-1 (Running under a worker that stopped)" in log
    runs = asyncio.run(_runs_named("dispute-queue-kill-1", stack.prefect_api, stack.env["PREFECT_API_AUTH_STRING"]))
    assert [r.state.type.value for r in runs] == ["COMPLETED"]  # one flow run, finished once
    _until(lambda: queue.depth() == {"waiting": 0, "pending": 0}, 30, "the queue drained")
    queue.close()


def test_a_second_entry_of_an_ended_run_is_not_run_again(stack, redis_server):
    queue = DisputeQueue(redis_server.url)
    stack.http.post("/v1/disputes", json=dispute_body("queue-twice-1", 4), headers={"Idempotency-Key": "twice-1"})
    assert _final(stack, "queue-twice-1")["status"] == "anchored"
    auth = stack.env["PREFECT_API_AUTH_STRING"]
    [run] = asyncio.run(_runs_named("dispute-queue-twice-1", stack.prefect_api, auth))
    queue.enqueue(str(run.id), run.name)  # as a gateway retrying after a crash would append it again
    _until(lambda: queue.depth() == {"waiting": 0, "pending": 0}, 30, "the duplicate acknowledged")
    [again] = asyncio.run(_runs_named("dispute-queue-twice-1", stack.prefect_api, auth))
    assert again.state.type.value == "COMPLETED" and again.end_time == run.end_time and again.run_count == 1
    queue.close()


def _status(stack, dispute_id: str) -> str:
    return stack.http.get(f"/v1/disputes/{dispute_id}").json()["status"]


async def _runs_named(name: str, api: str, auth: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: auth}):
        async with get_client() as client:
            return await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))


def test_shared_cache_holds_public_embeddings_and_no_tenant_ciphertext(stack, redis_server, monkeypatch, tmp_path):
    """An encrypted dispute through the gateway; then every key and value in Redis is searched."""
    from dalrn_cli.load import _Tenant

    monkeypatch.setenv("DALRN_TENANT_HOME", str(tmp_path / "tenant"))
    tenant = _Tenant(stack.api, stack.issued, plain=False, poll_s=0.5, timeout_s=240)
    outcome = tenant.play("queue-cipher-1", 3)
    assert outcome.get("error") is None and outcome["status"] == "anchored", outcome
    query, context = tenant.sent["queue-cipher-1"], tenant.keys.public_context()
    client = redis.Redis.from_url(redis_server.url)
    blobs = b"".join(_everything(client))
    for secret, what in ((query, "encrypted query"), (context, "public context")):
        for start in range(0, len(secret) - 64, max(len(secret) // 50, 64)):
            assert secret[start:start + 64] not in blobs, f"a slice of the tenant's {what} is in Redis"
    # Not vacuous: the public evidence's embedding is there, equal to the model's own.
    text = dispute_body("queue-cipher-1", 3)["evidence"][0]["text"]
    stored = client.get(f"{PREFIX}:{Embedder.load().tag}:{text_hash(text)}")
    assert stored is not None
    expected = Embedder.load().model.encode([text], normalize_embeddings=True)[0]
    assert float(np.dot(np.frombuffer(stored, dtype="<f4"), expected)) > 0.999


def _everything(client: redis.Redis):
    """Every key and every value Redis holds, as bytes, whatever its type."""
    for key in client.scan_iter(count=500):
        yield key
        kind = client.type(key).decode()
        if kind == "string":
            yield client.get(key)
        elif kind == "hash":
            for field_, value in client.hgetall(key).items():
                yield field_ + value
        elif kind == "list":
            yield from client.lrange(key, 0, -1)
        elif kind in ("set", "zset"):
            yield from (client.smembers(key) if kind == "set" else client.zrange(key, 0, -1))
        elif kind == "stream":
            for _id, fields in client.xrange(key):
                yield json.dumps({k.decode(): v.decode(errors="replace") for k, v in fields.items()}).encode()


def test_a_worker_started_under_an_old_name_is_not_ready_until_it_reports_itself(redis_server, tmp_path):
    """A stale report from an earlier stack on the same Redis must not pass for the new worker's."""
    from dalrn_cli.queue_stack import QueueStack
    from dalrn_cli.worker import WORKERS

    client = redis.Redis.from_url(redis_server.url)
    client.hset(WORKERS, "w-old", json.dumps({"pid": 1, "cpu_s": 9.0, "disputes": 3, "held": 0, "at": 0}))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # it stops at once: no Prefect API
    stack = QueueStack(api="http://127.0.0.1:9", prefect_api="", env={**env, "DALRN_QUEUE_URL": redis_server.url})
    worker = stack.start_worker("w-old")
    try:
        assert client.hget(WORKERS, "w-old") is None
        assert worker.wait(timeout=120) != 0  # refused without PREFECT_API_URL, and never reported
        assert client.hget(WORKERS, "w-old") is None
    finally:
        if worker.poll() is None:
            worker.kill()
        client.close()

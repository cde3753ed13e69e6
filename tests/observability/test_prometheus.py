"""Prometheus (Debian's) scrapes the live gateway and a dispute worker; the series come back.

On loopback: Prefect's server, the gateway queueing to Redis, one `dalrn worker` serving its
metrics, and Prometheus scraping both every second. Two disputes are resolved through the
API; then Prometheus' HTTP API answers with their counters, their stage histograms, the
gateway's request counters and the queue depth, each as the code's catalogue names it.
"""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from dalrn_cli.load import dispute_body
from dalrn_cli.queue_stack import queue_stack
from dalrn_cli.stack import free_port
from dalrn_core.observability.metrics import metric_names
from tests.observability.prometheus_server import available, prometheus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]


def _final(http: httpx.Client, dispute_id: str, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = http.get(f"/v1/disputes/{dispute_id}").json()
        if view["status"] in ("anchored", "failed", "rejected"):
            return view
        time.sleep(0.2)
    raise AssertionError(f"dispute {dispute_id} not final within {timeout_s} s")


def test_prometheus_scrapes_gateway_and_worker(tmp_path, redis_server, small_index):
    if reason := available():
        pytest.skip(reason)
    redis.Redis.from_url(redis_server.url).delete("dalrn:disputes", "dalrn:stats", "dalrn:workers")
    worker_port = free_port()
    with queue_stack(tmp_path / "stack", redis_server.url, workers=1,
                     worker_args=("--metrics-port", str(worker_port))) as stack:
        gateway = stack.api.removeprefix("http://")
        with prometheus(tmp_path / "prometheus", {"gateway": [gateway], "worker": [f"127.0.0.1:{worker_port}"]}) as prom:
            issued = stack.create_tenant("observed-acme")
            with httpx.Client(base_url=stack.api, timeout=60) as http:
                token = http.post("/v1/oauth/token", data={"grant_type": "client_credentials", "client_id": issued["key_id"],
                                                            "client_secret": issued["api_key"]}).json()["access_token"]
                http.headers["Authorization"] = f"Bearer {token}"
                ids = ["observed-1", "observed-2"]
                for number, dispute_id in enumerate(ids):
                    answer = http.post("/v1/disputes", json=dispute_body(dispute_id, number),
                                       headers={"Idempotency-Key": dispute_id})
                    assert answer.status_code == 202, answer.text
                views = [_final(http, dispute_id) for dispute_id in ids]
            assert [v["status"] for v in views] == ["anchored", "anchored"], views
            assert all(len(v["trace_id"]) == 32 for v in views)

            prom.until('up{job="gateway"}', lambda v: v == 1)
            prom.until('up{job="worker"}', lambda v: v == 1)
            prom.until('sum(dalrn_disputes_accepted_total{job="gateway",kind="dispute"})', lambda v: v == 2)
            prom.until('sum(dalrn_http_requests_total{job="gateway",route="/v1/disputes",method="POST",status="202"})',
                       lambda v: v == 2)
            prom.until('sum(dalrn_disputes_resolved_total{job="worker"})', lambda v: v == 2)
            prom.until('sum(dalrn_disputes_anchored_total{job="worker"})', lambda v: v >= 2)
            for stage in ("intake", "route", "embed", "precedents", "negotiate", "explain", "anchor"):
                prom.until(f'dalrn_dispute_stage_duration_seconds_count{{job="worker",stage="{stage}"}}', lambda v: v == 2)
            # Over the cumulative buckets, not a rate: a rate is NaN once the window has passed the
            # last observation, or when both came before Prometheus' first scrape of the worker.
            p95 = prom.until('histogram_quantile(0.95, sum by (le) (dalrn_dispute_stage_duration_seconds_bucket'
                             '{job="worker",stage="negotiate"}))', lambda v: v > 0)
            assert p95 <= 900
            # The queue drained: both entries acknowledged, the gauge reads it from Redis at each scrape.
            prom.until('sum(dalrn_dispute_queue_depth{job="gateway"})', lambda v: v == 0)
            states = {r["metric"]["state"] for r in prom.query('dalrn_dispute_queue_depth{job="gateway"}')}
            assert states == {"waiting", "pending"}
            prom.until('dalrn_dispute_queue_oldest_age_seconds{job="gateway"}', lambda v: v == 0)
            prom.until('sum(dalrn_anchor_gas_per_batch_count{job="worker"})', lambda v: v >= 1)
            prom.until('sum(dalrn_dispute_time_to_anchored_seconds_count{job="worker"})', lambda v: v == 2)
            # The worker's server is the catalogue's (serve_metrics): its scrape reads the backlog too.
            prom.until('sum(dalrn_dispute_queue_depth{job="worker"})', lambda v: v == 0)
            assert {r["metric"]["state"] for r in prom.query('dalrn_dispute_queue_depth{job="worker"}')} == states
            # Every dalrn_ series Prometheus holds is one the catalogue names (dashboards rely on it).
            held = httpx.get(f"{prom.url}/api/v1/label/__name__/values", timeout=10).json()["data"]
            assert {n for n in held if n.startswith("dalrn_")} <= set(metric_names())

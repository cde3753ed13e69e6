"""Kill -9 `dalrn worker` itself, over the production-shaped stack, while disputes stream in.

Disputes enter through the gateway (`POST /v1/disputes`, an idempotency key each), which
records them and appends them to the Redis Stream; one `dalrn worker` at a time runs them.
At random moments, chosen by how many receipts the dispute in progress has written (1, its
intake, to 6, its explanation, so every stage boundary is hit), the worker and anything it
started get SIGKILL, and a new worker under a new name starts. Nothing tells it what
happened: it claims the dead worker's entry once that has been idle `claim_timeout_s`
(XAUTOCLAIM) and takes over the flow run the dead worker left Running. Afterwards the
same counts as `benchmarks.chaos.kill_run` are read from the chain, the records and
`dalrn receipts verify`, plus Prefect's own view: one flow run per dispute, Completed.

`kill_stack` starts what `queue_kill_run` needs (the stack, on a data and key folder of its
own, and a party tenant's token-holding HTTP client); tests/faults/test_kill_queue_worker.py
and `python -m benchmarks.run chaos` use both.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.chaos import STEPS, outcome_counts
from dalrn_cli.environment import environment
from dalrn_cli.load import dispute_body
from dalrn_cli.queue_stack import QueueStack, queue_stack, wait_workers_ready
from dalrn_core.dispute.records import chain_key, load_record
from dalrn_core.errors import InputError

FINAL = ("anchored", "failed", "rejected")
TENANT = "kill-acme"


@contextlib.contextmanager
def kill_stack(folder: Path, redis_url: str, postgres: Any) -> Iterator[QueueStack]:
    """Prefect on `postgres`, the gateway, one worker (`--claim-timeout 3`), a small precedent
    index, all on DALRN_HOME and DALRN_KEYS_DIR under `folder` (the chain's counts are this
    run's alone); `stack.http` holds TENANT's token. Restores the environment on exit."""
    import redis

    from dalrn_core.search.build import build_precedent_index

    redis.Redis.from_url(redis_url).delete("dalrn:disputes", "dalrn:stats", "dalrn:workers")
    with environment({"DALRN_HOME": str(folder / "home"), "DALRN_KEYS_DIR": str(folder / "keys")}):
        build_precedent_index(limit=30)
        with queue_stack(folder / "stack", redis_url, workers=1, prefect_database_url=postgres.asyncpg_url,
                         gateway_database_url=postgres.url, worker_args=("--claim-timeout", "3", *KILL_CONCURRENCY),
                         extra_env={"DALRN_GATEWAY_RATE_LIMIT": "100000/minute"}) as running:
            issued = running.create_tenant(TENANT)
            auth = _ClientCredentials(running.api, issued["key_id"], issued["api_key"])
            with httpx.Client(base_url=running.api, timeout=60, auth=auth) as http:
                running.http = http  # type: ignore[attr-defined]
                yield running


# The committed chaos numbers were measured with 4 disputes in a worker's hands.
KILL_CONCURRENCY = ("--concurrency", "4")


class _ClientCredentials(httpx.Auth):
    """The tenant's bearer token, fetched again when the gateway says it expired: a 50-kill
    run outlasts one token (CI failed with a 401 after 49 kills)."""

    def __init__(self, api: str, key_id: str, secret: str) -> None:
        self.api, self.key_id, self.secret, self.token = api, key_id, secret, None

    def _fetch(self) -> str:
        answer = httpx.post(f"{self.api}/v1/oauth/token", timeout=60, data={
            "grant_type": "client_credentials", "client_id": self.key_id, "client_secret": self.secret})
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def auth_flow(self, request):
        self.token = self.token or self._fetch()
        request.headers["Authorization"] = f"Bearer {self.token}"
        response = yield request
        if response.status_code == 401:
            self.token = self._fetch()
            request.headers["Authorization"] = f"Bearer {self.token}"
            yield request


def own_kill_run(disputes: int, kills: int, seed: int) -> dict[str, Any]:
    """`queue_kill_run` on PostgreSQL and Redis started for it in a temporary folder."""
    import tempfile

    from dalrn_cli.stack import start_postgres, start_redis

    with tempfile.TemporaryDirectory(prefix="dalrn-kill-queue-") as name:
        folder = Path(name)
        folder.chmod(0o711)  # PostgreSQL's own user must enter its data folder
        with start_postgres(folder / "postgres") as postgres, start_redis(folder / "redis") as broker, \
                kill_stack(folder / "run", broker.url, postgres) as stack:
            return queue_kill_run(stack, stack.http, TENANT, broker.url,  # type: ignore[attr-defined]
                                  disputes=disputes, kills=kills, seed=seed)


def queue_kill_run(stack: QueueStack, http: Any, tenant: str, redis_url: str, *, disputes: int, kills: int,
                   seed: int, claim_timeout_s: float = 3.0, settle_s: float = 600.0) -> dict[str, Any]:
    """Submit `disputes`, SIGKILL the worker `kills` times (two more disputes arrive whenever
    it finished all before a kill), let the last worker finish; then count."""
    ids: list[str] = []

    def submit(count: int) -> None:
        for _ in range(count):
            dispute_id = f"qkill-{seed}-{len(ids):03d}"
            answer = http.post("/v1/disputes", json=dispute_body(dispute_id, 5000 + len(ids)),
                               headers={"Idempotency-Key": dispute_id})
            answer.raise_for_status()
            ids.append(dispute_id)

    def receipts(dispute_id: str) -> int:
        try:
            return len(load_record(chain_key(tenant, dispute_id)).get("receipts", []))
        except (InputError, ValueError):
            return 0  # not taken up yet

    submit(disputes)
    rng, killed_at, started = random.Random(seed), [], time.monotonic()
    worker = stack.workers[-1]
    while len(killed_at) < kills:
        target = rng.randint(1, len(STEPS) - 1)
        hit = _in_progress_with(ids, receipts, target, worker, timeout_s=180)
        if hit is None:
            if worker.poll() is None and all(receipts(d) == len(STEPS) for d in ids) \
                    and len(ids) < disputes + 2 * kills:
                submit(2)  # the stream ran dry before this kill: more disputes arrive
                continue
            break  # stuck or exited: the counts below say so
        time.sleep(rng.uniform(0.0, 0.3))
        _kill_tree(worker.pid)
        worker.wait(timeout=30)
        killed_at.append(f"{hit} at {receipts(hit)} receipts")
        name = f"k{seed}-{len(killed_at)}"
        worker = stack.start_worker(name, "--claim-timeout", str(claim_timeout_s), *KILL_CONCURRENCY)
        wait_workers_ready(redis_url, [name])
    views = _settle(http, ids, settle_s)
    statuses = {d: view.get("status", "?") for d, view in views.items()}
    seconds = time.monotonic() - started
    chains = [chain_key(tenant, d) for d in ids]
    runs = asyncio.run(_runs_of(stack, [f"dispute-{d}" for d in ids]))
    counts = outcome_counts(chains, {chain_key(tenant, d) for d, s in statuses.items() if s == "anchored"})
    return {
        "scenario": "kill_queue_worker",
        "kills": len(killed_at),
        "outage_s": 0,
        "disputes": len(ids),
        "seconds": round(seconds, 1),
        "statuses": dict(sorted(statuses.items())),
        "one_completed_flow_run": sum(1 for d in ids if runs.get(f"dispute-{d}") == ["COMPLETED"]),
        **counts,
        "killed_at": killed_at,
        "not_anchored": {d: {"view": view, "runs": runs.get(f"dispute-{d}")}
                         for d, view in views.items() if view.get("status") != "anchored"},
        "worker_alive": worker.poll() is None,
    }


def _in_progress_with(ids: list[str], receipts: Any, target: int, worker: Any, timeout_s: float) -> str | None:
    """A dispute this worker is in the middle of, with at least `target` receipts written."""
    before = {d: receipts(d) for d in ids}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.poll() is None:
        for dispute_id in ids:
            count = receipts(dispute_id)
            if count > before[dispute_id] and target <= count < len(STEPS):
                return dispute_id
        if all(receipts(d) == len(STEPS) for d in ids):
            return None  # ran dry
        time.sleep(0.02)
    return None


def _kill_tree(pid: int) -> None:
    """SIGKILL the worker and whatever it started (a negotiation in a child, say)."""
    with contextlib.suppress(psutil.NoSuchProcess):
        process = psutil.Process(pid)
        family = [*process.children(recursive=True), process]
        for member in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.kill()


def _settle(http: Any, ids: list[str], timeout_s: float) -> dict[str, dict]:
    """Each dispute's view once every one is final, or as it stands at the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        views = {d: http.get(f"/v1/disputes/{d}").json() for d in ids}
        if all(v.get("status") in FINAL for v in views.values()) or time.monotonic() > deadline:
            return views
        time.sleep(1.0)


async def _runs_of(stack: QueueStack, names: list[str]) -> dict[str, list[str]]:
    """Prefect's state of every flow run under each name."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: stack.prefect_api,
                                     PREFECT_API_AUTH_STRING: stack.env["PREFECT_API_AUTH_STRING"]}):
        async with get_client() as client:
            found = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names)))
    out: dict[str, list[str]] = {}
    for run in found:
        out.setdefault(run.name, []).append(run.state.type.value if run.state else "?")
    return out

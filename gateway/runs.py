"""Dispute runs through Prefect's API: start one, follow it, answer its tenant pause.

The gateway never imports `flows/`: it starts the `dispute-resolution` deployment by name
and reads the run back, so it works against any Prefect server the operator runs (with its
API auth string in `PREFECT_API_AUTH_STRING`). Prefect's own flow-run idempotency key makes
a retried start return the run it already created, never a second one; the key is scoped
by tenant because Prefect's uniqueness is per flow, not per caller.

With the dispute queue configured (`DALRN_QUEUE_URL`, a Redis URL), `start` creates the run
in Prefect as `Pending` (no runner or worker of a work pool picks that up) and appends its id
to the Redis Stream that long-lived dispute workers (`dalrn worker`) read; each worker runs it
in its own process as that very flow run. Everything else reads the run exactly as before.

A run's status comes from its Prefect state; whether a settled dispute is also anchored
comes from its record in the data folder, because the `anchor-batches` flow may anchor it
after the run has finished. A run paused for its tenant's reveal shows its encrypted search
through its signed `encrypted_search` receipt, the one written after its latest intake.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import httpx
from prefect.exceptions import PrefectException
from prefect.states import Pending

from dalrn_core.dispute.records import STATUS_ANCHORED, chain_key, record_path
from dalrn_core.observability.tracing import flow_run_labels
from dalrn_core.queue import TAKEOVER_MESSAGE
from gateway.run_reads import BatchedRunReads
from gateway.status import REJECTED, failed_or_rejected

DEPLOYMENT = "dispute-resolution/dispute-resolution"

QUEUED, RUNNING, AWAITING_TENANT = "queued", "running", "awaiting_tenant"
RESOLVED, ANCHORED, FAILED = "resolved", "anchored", "failed"
STATUSES = (QUEUED, RUNNING, AWAITING_TENANT, RESOLVED, ANCHORED, FAILED, REJECTED)
# Every status a dispute shows, in the order it may pass through them (a joint filing first
# waits for its parties).
DisputeStatus = Literal["awaiting_parties", "queued", "running", "awaiting_tenant", "resolved", "anchored",
                        "failed", "rejected"]

_BY_STATE_TYPE = {
    "SCHEDULED": QUEUED, "PENDING": QUEUED, "RUNNING": RUNNING, "PAUSED": AWAITING_TENANT,
    "CANCELLING": RUNNING, "FAILED": FAILED, "CRASHED": FAILED, "CANCELLED": FAILED,
}


# How long a reveal waits for the paused run's input schema. The worker saves it right after
# pausing, but its event loop may be busy with another dispute's CPU-bound stage meanwhile:
# under load 10 s was seen to be too short.
SCHEMA_WAIT_S, SCHEMA_POLL_S = 30.0, 0.25
SCHEMA_MISSING = "Run input schema not found"  # Prefect server's reason for refusing a resume then


def _schema_not_saved_yet(response: Any) -> bool:
    details = getattr(response, "details", None)
    return response.status.value == "REJECT" and SCHEMA_MISSING in (getattr(details, "reason", "") or "")


class RunNotFound(LookupError):
    """No flow run with that id (or it is not a dispute-resolution run)."""


class RunNotPaused(RuntimeError):
    """The run is not waiting for its tenant's reveal."""


# What reaching Prefect's API can raise: transport and HTTP status errors, socket errors, and
# Prefect's own (an unknown deployment, a refused request). Anything else is a bug and propagates.
RUN_SERVICE_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, OSError, PrefectException)


@dataclass(frozen=True)
class RunView:
    """What the gateway tells a tenant about a dispute run."""

    status: str
    result: dict | None
    updated_at: datetime
    state_name: str
    message: str | None = None
    resolved_at: datetime | None = None  # the run's end (Prefect server's clock), once settled
    anchored_at: datetime | None = None  # once both its run ended and its root was recorded on chain


@dataclass(frozen=True)
class PausedSearch:
    """A paused run's encrypted search: the score ciphertexts (by CID) and the index they follow."""

    key_id: str
    k: int
    index_cid: str
    score_cids: list[str]
    precedent_ids: list[str]


def run_key(tenant: str, idempotency_key: str) -> str:
    """Prefect's flow-run idempotency key for one tenant's key (unique per flow server-side)."""
    return f"dalrn-gateway:{tenant}:{idempotency_key}"


def chain_id(parameters: dict[str, Any]) -> str | None:
    """The receipt chain a run writes, from the parameters it was started with (None without a dispute).

    A run started without `tenant` writes the plain dispute id's chain, whatever the flow's version.
    """
    dispute = parameters.get("dispute") or {}
    dispute_id = dispute.get("id") if isinstance(dispute, dict) else None
    if not isinstance(dispute_id, str):
        return None
    tenant = parameters.get("tenant")
    return chain_key(tenant, dispute_id)


def record_summary(chain: str) -> dict | None:
    """The settled dispute as its record and explain receipt hold it, or None if not settled."""
    import json

    from blocks.evidence_store import content_store

    path = record_path(chain)
    if not path.exists():
        return None
    record = json.loads(path.read_text())
    cids = record.get("receipts", [])
    store = content_store(None)
    explain = next((r for r in (json.loads(store.get(c)) for c in reversed(cids)) if r["step"] == "explain"), None)
    if explain is None:
        return None
    anchor = record.get("anchor") or {}
    return {
        "chain_id": chain,
        "settlement": explain["outputs"].get("settlement"),
        "memo_cid": explain["outputs"].get("memo_cid"),
        "memo_markdown_cid": explain["outputs"].get("memo_markdown_cid"),
        "merkle_root": anchor.get("root"),
        "tx_hash": anchor.get("tx_hash"),
        "anchor_status": record.get("status"),
        "anchored_at": anchor.get("anchored_at"),
        "receipts": cids,
    }


def settled_status(result: dict | None, chain: str | None) -> tuple[str, dict | None]:
    """`anchored` when the record (or the run's own result) shows the root on chain, else `resolved`."""
    summary = record_summary(chain) if chain else None
    if summary is not None and summary["anchor_status"] == STATUS_ANCHORED:
        return ANCHORED, {**(result or {}), **{k: v for k, v in summary.items() if v is not None}}
    merged = result if result is not None else summary
    if merged is not None and merged.get("merkle_root") and merged.get("tx_hash"):
        return ANCHORED, merged
    return RESOLVED, merged


def latest_search(chain: str, k: int) -> PausedSearch | None:
    """The encrypted search of the chain's latest run (after its latest intake), or None."""
    from blocks.evidence_store import content_store
    from dalrn_core.podp.ledger import load_receipts
    from dalrn_core.search.index import PrecedentIndex

    receipts = load_receipts(chain, content_store(None))
    starts = [i for i, r in enumerate(receipts) if r["step"] == "intake"]
    current = receipts[starts[-1]:] if starts else receipts
    search = next((r for r in reversed(current) if r["step"] == "encrypted_search"), None)
    if search is None:
        return None
    outputs = search["outputs"]
    index = PrecedentIndex.open(outputs["index_cid"])
    return PausedSearch(key_id=search["params"]["key_id"], k=k, index_cid=outputs["index_cid"],
                        score_cids=list(outputs["score_cids"]), precedent_ids=list(index.ids))


def _instant(value: object) -> datetime | None:
    """An ISO 8601 string (or datetime) as an aware datetime; None for anything else."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return _instant(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _enqueue(queue, flow_run_id: str, name: str) -> None:
    """Append the run through Redis' breaker; Redis down reads as the run service unavailable (503)."""
    import redis

    from dalrn_core.observability.breakers import REDIS, guarded

    try:
        guarded(REDIS, queue.enqueue, flow_run_id, name)
    except redis.RedisError as exc:
        raise ConnectionError(f"dispute queue unavailable: {type(exc).__name__}") from None


class DisputeRuns:
    """Starts and follows dispute-resolution runs through the Prefect API.

    With `queue_url` (a Redis URL) a started run is handed to the dispute workers' queue.
    """

    def __init__(self, deployment: str = DEPLOYMENT, *, queue_url: str | None = None) -> None:
        self.deployment = deployment
        self._deployment_id: UUID | None = None
        self._takes_tenant = False
        self._shared: tuple[Any, asyncio.AbstractEventLoop, BatchedRunReads] | None = None
        self.queue = None
        if queue_url:
            from dalrn_core.queue import DisputeQueue

            self.queue = DisputeQueue(queue_url)
            self.queue.ensure_group()

    @classmethod
    def from_environment(cls) -> DisputeRuns:
        """The runs the gateway uses: queued for workers when `DALRN_QUEUE_URL` is set."""
        from dalrn_core.queue import queue_url

        return cls(queue_url=queue_url())

    @contextlib.asynccontextmanager
    async def _client(self):
        """This event loop's Prefect client, opened once and kept: a new client builds a TLS
        context (about 25 ms of CPU, even for an http:// API) and a new connection, and the
        gateway reads a run several times a second under load."""
        loop = asyncio.get_running_loop()
        if self._shared is None or self._shared[1] is not loop:
            from prefect.client.orchestration import get_client

            client = get_client()
            await client.__aenter__()
            if self._shared is not None and self._shared[1] is loop:  # another request opened one meanwhile
                await client.__aexit__(None, None, None)
            else:
                self._shared = (client, loop, BatchedRunReads(client))
        yield self._shared[0]

    async def aclose(self) -> None:
        """Close this loop's client (the app's shutdown)."""
        shared, self._shared = self._shared, None
        if shared is not None and shared[1] is asyncio.get_running_loop():
            await shared[0].__aexit__(None, None, None)

    async def _deployment(self, client) -> UUID:
        if self._deployment_id is None:
            deployment = await client.read_deployment_by_name(self.deployment)
            schema = deployment.parameter_openapi_schema or {}
            # A flow that scopes receipt chains by tenant says so in its parameters.
            self._takes_tenant = "tenant" in (schema.get("properties") or {})
            self._deployment_id = deployment.id
        return self._deployment_id

    async def start(self, *, tenant: str, dispute: dict, idempotency_key: str,
                    precedent_search: dict | None = None, sides: dict[str, str] | None = None,
                    absent_parties: list[str] | None = None) -> str:
        """Start (or find, for a key already used) the run of `dispute`; returns its flow run id.

        A joint dispute's `dispute` is its shared structure and `sides` its parties' sealed
        sides by CID; `absent_parties` names those that did not join by the deadline.
        """
        async with self._client() as client:
            deployment = await self._deployment(client)
            parameters = {"dispute": dispute, **({"tenant": tenant} if self._takes_tenant else {})}
            if precedent_search is not None:
                parameters["precedent_search"] = precedent_search
            if sides is not None:
                parameters["sides"] = sides
            if absent_parties:
                parameters["absent_parties"] = absent_parties
            # Pending, not Scheduled: a queued run is the workers', never a served deployment's.
            queued = {"state": Pending(name="Queued")} if self.queue is not None else {}
            run = await client.create_flow_run_from_deployment(
                deployment,
                parameters=parameters,
                idempotency_key=run_key(tenant, idempotency_key),
                tags=[f"tenant-{tenant}", "gateway"],
                labels=flow_run_labels(),  # the run's span joins the current trace
                **queued,
            )
        if self.queue is not None and (run.state is None or run.state.is_pending()):
            # A retried start finds its run again: appended again only while no worker began it.
            await asyncio.to_thread(_enqueue, self.queue, str(run.id), f"dispute-{dispute.get('id')}")
        return str(run.id)

    async def _read(self, client, flow_run_id: str):
        from prefect.exceptions import ObjectNotFound

        try:
            run_id = UUID(flow_run_id)
        except ValueError:
            raise RunNotFound(flow_run_id) from None
        reads = self._shared[2] if self._shared is not None and self._shared[0] is client else None
        try:
            run = await (reads.read(run_id) if reads is not None else client.read_flow_run(run_id))
        except ObjectNotFound:
            raise RunNotFound(flow_run_id) from None
        if run is None or run.deployment_id != await self._deployment(client):
            raise RunNotFound(flow_run_id)
        return run

    async def view(self, flow_run_id: str) -> RunView:
        """The run's status (and result, once settled), read from Prefect and the record."""
        async with self._client() as client:
            run = await self._read(client, flow_run_id)
        state = run.state
        if state is None:
            return RunView(QUEUED, None, run.created or datetime.now(UTC), "Scheduled")
        updated = state.timestamp or run.updated or datetime.now(UTC)
        kind = state.type.value
        if kind != "COMPLETED":
            status = _BY_STATE_TYPE.get(kind, RUNNING)
            if kind == "CRASHED" and (state.message or "").startswith(TAKEOVER_MESSAGE):
                status = QUEUED  # a worker took it over from one that died and starts it again
            elif status == FAILED:  # refused input is `rejected`: resubmitting it cannot succeed
                status = failed_or_rejected(kind, state.message)
            return RunView(status, None, updated, state.name, state.message)
        result = await self._result(state)
        chain = chain_id(run.parameters)
        status, merged = settled_status(result, chain)
        if merged is not None and chain is not None:
            merged = {**merged, "chain_id": chain}  # where the receipts (and the proof) live
        resolved_at = _instant(run.end_time) or _instant(state.timestamp) or updated
        anchored_at = None
        if status == ANCHORED:  # the run anchors before it ends: anchored once both happened
            recorded = _instant((merged or {}).get("anchored_at"))
            anchored_at = max(recorded, resolved_at) if recorded is not None else resolved_at
        if merged is not None:  # kept with the result, so a final dispute still shows them
            merged = {**merged, "resolved_at": resolved_at.isoformat(),
                      "anchored_at": anchored_at.isoformat() if anchored_at else None}
        return RunView(status, merged, updated, state.name, state.message, resolved_at=resolved_at,
                       anchored_at=anchored_at)

    @staticmethod
    async def _result(state) -> dict | None:
        """The run's persisted return value, or None where Prefect did not persist it."""
        try:
            value = await state.aresult(raise_on_failure=False, retry_result_failure=False)
        except Exception:  # noqa: BLE001 - not persisted, storage gone, or unreadable: use the record
            return None
        return value if isinstance(value, dict) else None

    async def search(self, flow_run_id: str) -> PausedSearch:
        """The encrypted search the paused run waits on; RunNotPaused when it waits on none."""
        async with self._client() as client:
            run = await self._read(client, flow_run_id)
        if run.state is None or not run.state.is_paused():
            raise RunNotPaused(f"run {flow_run_id} is not waiting for its tenant")
        request, chain = run.parameters.get("precedent_search"), chain_id(run.parameters)
        if not isinstance(request, dict) or chain is None:
            raise RunNotPaused(f"run {flow_run_id} has no encrypted precedent search")
        found = await asyncio.to_thread(latest_search, chain, int(request.get("k", 5)))
        if found is None:
            raise RunNotPaused(f"run {flow_run_id} has not scored its encrypted query")
        return found

    async def reveal(self, flow_run_id: str, precedents: list[dict]) -> None:
        """Resume the paused run with the tenant's chosen precedents (its TenantReveal input)."""
        async with self._client() as client:
            run = await self._read(client, flow_run_id)
            if run.state is None or not run.state.is_paused():
                raise RunNotPaused(f"run {flow_run_id} is not waiting for its tenant")
            response = await client.resume_flow_run(run.id, run_input={"precedents": precedents})
            # Prefect pauses a run first and saves the input schema it waits for a moment
            # later: a tenant that answers inside that moment is told to wait, not refused.
            waited = 0.0
            while _schema_not_saved_yet(response) and waited < SCHEMA_WAIT_S:
                await asyncio.sleep(SCHEMA_POLL_S)
                waited += SCHEMA_POLL_S
                response = await client.resume_flow_run(run.id, run_input={"precedents": precedents})
        if response.status.value == "REJECT":
            raise RunNotPaused(f"run {flow_run_id} can no longer be resumed: {response.details.reason}")

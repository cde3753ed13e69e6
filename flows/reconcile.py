"""Find dispute runs that died and accepted disputes that never got a run; start them again.

A dispute the gateway accepted is either finished once or visibly failed, never lost. Two
things can lose one: the process running it dies (its run stays `Running` in Prefect, its
flow heartbeats stop), or the gateway dies (or Prefect is unreachable) between committing
the dispute as accepted and creating its run. One pass of `reconcile_disputes`:

1. marks every `Running` dispute-resolution run whose last heartbeat (or, before its first,
   its start) is older than three of its heartbeat intervals (or `stale_after_s`) as
   `Crashed`: the interval is the one observed between its last two beats, else the longest
   Prefect's setting may make it, so a live run with rarer beats is never taken for dead
   (a run left `Paused` past its tenant's time is failed by Prefect's own pause-expiration
   service; one whose process died while paused and whose tenant then answers is `Running`
   without heartbeats, and is found here);
2. starts every `Crashed` run again as the same flow run (Scheduled for the served
   deployment, or handed back to the dispute workers' queue), while it has run fewer than
   `max_attempts` times; past that it stays `Crashed`, which the gateway shows as `failed`.
   The gateway keeps following the same run id, and the run reuses what finished: receipts
   already written are returned, not signed again, and an anchoring already recorded is
   not sent again (`Trail(once=True)`, `podp.anchoring.recorded_anchor`);
3. starts every accepted whole dispute (`queued` in the gateway's database, no run id)
   accepted more than `accepted_grace_s` ago, with the Prefect idempotency key the gateway
   would have used (so a run the gateway did create is found, not doubled), and passes the
   joint disputes to the gateway's own `joint.reconcile`.

The `dispute-reconcile` deployment runs it every minute (`deployments/served.py`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import flow

log = logging.getLogger("dalrn.reconcile")

HEARTBEAT_EVENT = "prefect.flow-run.heartbeat"
MISSED_BEATS = 3  # a run is dead after this many heartbeat intervals without one
MIN_HEARTBEAT_S, PREFECT_DEFAULT_HEARTBEAT_S = 30.0, 180.0  # Prefect's minimum and default
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_ACCEPTED_GRACE_S = 30.0


@dataclass
class ReconcileReport:
    """What one pass did, by flow run id (or `tenant/dispute id` for accepted disputes)."""

    crashed: list[str] = field(default_factory=list)  # Running, heartbeat stopped: marked Crashed
    resumed: list[str] = field(default_factory=list)  # Crashed: started again as the same run
    given_up: list[str] = field(default_factory=list)  # Crashed after max_attempts runs: left failed
    started: list[str] = field(default_factory=list)  # accepted with no run: run started
    joint_handled: int = 0  # joint disputes lapsed or started by `gateway.joint.reconcile`

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def heartbeats(client: Any, flow_run_id: Any, limit: int = 2) -> list[datetime]:
    """The run's latest flow heartbeats (Prefect events), newest first."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    page = await client.read_events(
        EventFilter(event=EventNameFilter(name=[HEARTBEAT_EVENT]),
                    resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"])),
        limit=limit)
    return sorted((_aware(e.occurred) or e.occurred for e in page.events), reverse=True)


def heartbeat_interval_s(beats: list[datetime]) -> float:
    """The run's heartbeat interval: as observed between its last two beats, else the longest
    it may be (Prefect's 180 s default, or this process's setting if longer), since the
    process running it (a dispute worker, a served run) may have another setting than ours."""
    if len(beats) >= 2 and beats[0] > beats[1]:
        return max((beats[0] - beats[1]).total_seconds(), MIN_HEARTBEAT_S)
    configured = os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "")
    return max(float(configured) if configured.isdigit() else 0.0, PREFECT_DEFAULT_HEARTBEAT_S)


PAGE = 200  # the most flow runs Prefect's API returns at once


async def _runs_in_state(client: Any, deployment_id: Any, state_type: Any) -> list[Any]:
    """Every run of the deployment in `state_type`, page by page."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    wanted = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
                           state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[state_type])))
    found: list[Any] = []
    while True:
        page = await client.read_flow_runs(flow_run_filter=wanted, limit=PAGE, offset=len(found))
        found.extend(page)
        if len(page) < PAGE:
            return found


async def _mark_stale_crashed(client: Any, deployment_id: Any, stale_after_s: float | None, now: datetime,
                              report: ReconcileReport) -> None:
    from prefect.client.schemas.objects import StateType
    from prefect.states import Crashed

    for run in await _runs_in_state(client, deployment_id, StateType.RUNNING):
        beats = await heartbeats(client, run.id)
        since = [t for t in (_aware(run.state.timestamp) if run.state else None, _aware(run.start_time),
                             *beats[:1]) if t is not None]
        alive_at = max(since, default=None)
        limit = stale_after_s if stale_after_s is not None else MISSED_BEATS * heartbeat_interval_s(beats)
        if alive_at is None or (now - alive_at).total_seconds() <= limit:
            continue
        message = (f"no flow heartbeat for {int((now - alive_at).total_seconds())} s "
                   f"(more than {int(limit)} s): its process is gone")
        await client.set_flow_run_state(run.id, Crashed(message=message), force=True)
        log.warning("dispute run %s (%s) marked crashed: %s", run.id, run.name, message)
        report.crashed.append(str(run.id))


async def _resume_crashed(client: Any, runs: Any, deployment_id: Any, max_attempts: int,
                          report: ReconcileReport) -> None:
    from prefect.client.schemas.objects import StateType
    from prefect.states import Pending, Scheduled

    for run in await _runs_in_state(client, deployment_id, StateType.CRASHED):
        if run.run_count >= max_attempts:
            report.given_up.append(str(run.id))
            continue
        message = f"started again by dispute-reconcile after a crash (attempt {run.run_count + 1} of {max_attempts})"
        if runs.queue is not None:  # the dispute workers' run, never a served deployment's
            await client.set_flow_run_state(run.id, Pending(name="Requeued", message=message), force=True)
            await asyncio.to_thread(runs.queue.enqueue, str(run.id), run.name)
        else:
            await client.set_flow_run_state(run.id, Scheduled(scheduled_time=datetime.now(UTC), name="Rescheduled",
                                                              message=message), force=True)
        log.warning("dispute run %s (%s): %s", run.id, run.name, message)
        report.resumed.append(str(run.id))


def _reopen_rows(sessions: Any, flow_run_ids: list[str]) -> None:
    """A row the gateway already showed as failed (from the Crashed state) follows its run again."""
    from sqlalchemy import update

    from gateway.db.models import DisputeRow

    if not flow_run_ids:
        return
    with sessions() as db:
        db.execute(update(DisputeRow).where(DisputeRow.flow_run_id.in_(flow_run_ids),
                                            DisputeRow.status == "failed").values(status="queued"))
        db.commit()


async def _start_accepted(sessions: Any, runs: Any, grace_s: float, now: datetime,
                          report: ReconcileReport) -> None:
    from sqlalchemy import select

    from gateway import joint
    from gateway.db.models import DisputeRow, IdempotencyRecord
    from gateway.runs import RUN_SERVICE_ERRORS

    with sessions() as db:
        ids = db.scalars(select(DisputeRow.id).where(DisputeRow.status == "queued",
                                                     DisputeRow.flow_run_id.is_(None))).all()
    for row_id in ids:
        with sessions() as db:
            row = db.get(DisputeRow, row_id)
            if row is None or row.flow_run_id is not None or joint.is_joint(db, row):
                continue
            submitted = _aware(row.submitted_at)
            if submitted is not None and (now - submitted).total_seconds() < grace_s:
                continue  # the gateway is starting it this very moment
            # The key the gateway starts it with: so a run it did create is found, not doubled.
            key = db.scalar(select(IdempotencyRecord.key).where(IdempotencyRecord.dispute_row == row.id)
                            ) or f"dispute-{row.body_hash}"
            extra = {"precedent_search": row.precedent_search} if row.precedent_search else {}
            try:
                row.flow_run_id = await runs.start(tenant=row.tenant, dispute=row.body, idempotency_key=key,
                                                   **extra)
            except RUN_SERVICE_ERRORS:
                log.warning("could not start the run of %s/%s; the next pass tries again", row.tenant,
                            row.dispute_id, exc_info=True)
                continue
            row.updated_at = datetime.now(UTC)
            db.commit()
            report.started.append(f"{row.tenant}/{row.dispute_id}")
    report.joint_handled = await joint.reconcile(sessions, runs)


async def reconcile_disputes(
    *,
    stale_after_s: float | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    accepted_grace_s: float = DEFAULT_ACCEPTED_GRACE_S,
    database_url: str | None = None,
    runs: Any = None,
    now: datetime | None = None,
) -> ReconcileReport:
    """One reconcile pass (see the module's docstring); returns what it did.

    `stale_after_s` is how long a `Running` run may go without a heartbeat; by default
    three of its heartbeat intervals (`heartbeat_interval_s`).
    `database_url` is the gateway's database (default: the gateway's settings); `runs` the
    gateway's `DisputeRuns` (default: from the environment, queued with DALRN_QUEUE_URL);
    `now` the clock the staleness and grace are measured by (default: the current time).
    Callable outside any flow, e.g. by a test that has just killed a worker.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from gateway.db import open_database
    from gateway.runs import DisputeRuns
    from gateway.settings import Settings

    now = _aware(now) or datetime.now(UTC)
    runs = runs if runs is not None else DisputeRuns.from_environment()
    report = ReconcileReport()
    async with get_client() as client:
        try:
            deployment = await client.read_deployment_by_name(runs.deployment)
        except ObjectNotFound:  # not registered (yet): no run of it to reconcile
            log.warning("deployment %s is not registered: no dispute run to reconcile", runs.deployment)
        else:
            await _mark_stale_crashed(client, deployment.id, stale_after_s, now, report)
            await _resume_crashed(client, runs, deployment.id, max_attempts, report)
    engine, sessions = open_database(database_url or Settings().database_url)
    try:
        await asyncio.to_thread(_reopen_rows, sessions, report.resumed)
        await _start_accepted(sessions, runs, accepted_grace_s, now, report)
    finally:
        engine.dispose()
    return report


@flow(name="dispute-reconcile", log_prints=True)
async def dispute_reconcile(stale_after_s: float | None = None,
                            max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                            accepted_grace_s: float = DEFAULT_ACCEPTED_GRACE_S) -> dict[str, Any]:
    """Mark dead dispute runs crashed and start them again; start accepted disputes with no run."""
    report = await reconcile_disputes(stale_after_s=stale_after_s, max_attempts=max_attempts,
                                      accepted_grace_s=accepted_grace_s)
    print(f"dispute-reconcile: {len(report.crashed)} marked crashed, {len(report.resumed)} started again, "
          f"{len(report.given_up)} left failed, {len(report.started)} accepted disputes started, "
          f"{report.joint_handled} joint disputes handled")
    return report.as_dict()


if __name__ == "__main__":
    print(asyncio.run(reconcile_disputes()).as_dict())

"""Prefect's scheduler creates the served deployments' runs, on SQLite and on PostgreSQL.

With SQLAlchemy 2.1 it created none (its bulk insert of scheduled runs raised inside the
server, which answered every request as before), so `dispute-reconcile`, `anchor-batches`,
`soan-rewire` and `fl-nightly` never ran on their schedules. This pins the fix: every
scheduled deployment gets runs, spaced by its own schedule.
"""

from __future__ import annotations

import time
from datetime import timedelta

from deployments.served import DEPLOYMENTS, deployments
from tests.gateway.prefect_server import closed_prefect_server

SCHEDULED = {name: schedule for _, _, name, schedule in DEPLOYMENTS if schedule is not None}


def _scheduled_runs(names: list[str], timeout_s: float = 60.0) -> dict[str, list]:
    """Apply the deployments (as `dalrn serve` does), then wait for the scheduler's runs."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort
    from prefect.utilities.asyncutils import run_coro_as_sync

    for deployment in deployments(names):
        deployment.apply()

    async def read(name: str) -> list:
        async with get_client() as client:
            return await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=5)

    deadline = time.monotonic() + timeout_s
    while True:
        runs = {name: run_coro_as_sync(read(name)) for name in names}
        if all(len(found) >= 2 for found in runs.values()) or time.monotonic() > deadline:
            return runs
        time.sleep(1)


def _assert_spaced_by_schedule(runs: dict[str, list]) -> None:
    for name, found in runs.items():
        assert len(found) >= 2, f"the scheduler created {len(found)} runs for {name}"
        assert all(run.auto_scheduled for run in found), name
        gap = found[1].expected_start_time - found[0].expected_start_time
        schedule = SCHEDULED[name]
        if schedule.interval is not None:
            interval = schedule.interval
            assert gap == (interval if isinstance(interval, timedelta) else timedelta(seconds=interval)), (name, gap)
        else:  # fl-nightly: once a day at 02:00 London time
            assert gap in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25)), (name, gap)


def test_every_scheduled_deployment_gets_runs_on_sqlite():
    with closed_prefect_server():
        _assert_spaced_by_schedule(_scheduled_runs(sorted(SCHEDULED)))


def test_every_scheduled_deployment_gets_runs_on_postgres(prefect_on_postgres):
    _assert_spaced_by_schedule(_scheduled_runs(sorted(SCHEDULED)))

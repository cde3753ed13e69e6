"""A worker's runs share one suspension observer, and a run suspended from outside still stops."""

from __future__ import annotations

import asyncio
import threading
import time

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from dalrn_cli.suspension_watch import watching_suspensions

STEPS = 3000  # an upper bound: a run steps until RELEASE (or about 5 minutes)
START_WAIT_S = 240.0


@task(cache_policy=NO_CACHE, persist_result=False)
def step(i: int) -> int:
    time.sleep(0.1)
    return i


RELEASE = threading.Event()  # the runs go on stepping until the test has seen what it needs


@flow(name="suspension-watch-test", persist_result=False)
async def steps(count: int, released: bool = True) -> int:
    done = 0
    while done < count and not (released and RELEASE.is_set() and done >= 3):
        await asyncio.to_thread(step, done)
        done += 1
    return done


async def _deployment_runs(n: int) -> list:
    from prefect.client.orchestration import get_client

    deployment_id = await (await steps.to_deployment(name="watched")).aapply()
    async with get_client() as client:
        # the first is never released: it steps until the suspension stops it
        return [await client.create_flow_run_from_deployment(deployment_id, parameters=_parameters(i))
                for i in range(n)]


def _parameters(i: int) -> dict:
    return {"count": STEPS, "released": i > 0}


def _per_run_observers() -> int:
    """Threads of Prefect's per-run observer (Python names a thread after its target)."""
    return sum(1 for t in threading.enumerate() if "(observer_thread)" in t.name)


def test_runs_share_one_watch_and_an_outside_suspension_still_stops_its_run(prefect_harness):
    import prefect.flow_engine as engine
    from prefect.client.orchestration import get_client
    from prefect.exceptions import Pause
    from prefect.flow_engine import run_flow_async
    from prefect.states import Suspended

    per_run = engine.observe_flow_run_suspension
    seen: dict[str, object] = {}

    async def scenario():
        runs = await _deployment_runs(3)
        with watching_suspensions() as watch:
            assert engine.observe_flow_run_suspension == watch.observe
            going = [asyncio.create_task(run_flow_async(steps, flow_run=run, parameters=_parameters(i),
                                                        return_type="state")) for i, run in enumerate(runs)]
            RELEASE.clear()
            # a run enters the watch once the server has taken its Pending and Running states: on
            # a busy shared test server (SQLite) that can take minutes, while task states flow on
            deadline = time.monotonic() + START_WAIT_S
            while watch.watched() < 3 and time.monotonic() < deadline and not any(g.done() for g in going):
                await asyncio.sleep(0.1)
            seen["watched"] = watch.watched()
            seen["ended_early"] = [repr(g.exception() or g.result()) for g in going if g.done()]
            seen["per_run_observers"] = _per_run_observers()
            async with get_client() as client:  # from outside, as the UI's "Suspend" does
                await client.set_flow_run_state(runs[0].id, Suspended(timeout_seconds=300), force=True)
            RELEASE.set()
            states = await asyncio.gather(*going, return_exceptions=True)
            seen["watched_after"] = watch.watched()
        return states

    states = asyncio.run(scenario())
    assert engine.observe_flow_run_suspension is per_run  # put back after the worker stops
    assert seen["watched"] == 3 and seen["watched_after"] == 0, seen
    assert seen["per_run_observers"] == 0, seen  # Prefect's own would be one thread per run
    suspended, *others = states
    assert isinstance(suspended, Pause), suspended  # how Prefect's engine ends a run suspended from outside
    assert [s.is_completed() for s in others] == [True, True]
    assert all(3 <= asyncio.run(s.aresult()) < STEPS for s in others)

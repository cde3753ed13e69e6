"""Runs paused together in one process wait with one shared read a poll, each resumed with its own input."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest


def test_paused_runs_share_one_read_and_each_gets_its_own_input(harness, monkeypatch):
    from prefect import flow, tags
    from prefect.client.orchestration import PrefectClient, get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.flow_runs import resume_flow_run

    from flows.paused_runs import pause_for_input
    from tasks.precedents import TenantReveal

    reads: list[int] = []  # how many runs each shared read asked for
    original = PrefectClient.read_flow_runs

    async def counted(self, *args, **kwargs):
        ids = getattr(getattr(kwargs.get("flow_run_filter"), "id", None), "any_", None)
        if ids is not None:
            reads.append(len(ids))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(PrefectClient, "read_flow_runs", counted)

    @flow
    async def waits(name: str, timeout_s: int) -> str:
        reveal = await pause_for_input(TenantReveal, key=f"reveal-{name}", timeout_s=timeout_s)
        return reveal.precedents[0].precedent_id

    async def scenario():
        tag, started = f"paused-{uuid.uuid4().hex[:12]}", time.monotonic()
        with tags(tag):
            runs = {name: asyncio.create_task(waits(name, timeout_s, return_state=True))
                    for name, timeout_s in (("a", 60), ("b", 60), ("c", 12))}
            async with get_client() as client:
                paused: dict[str, object] = {}
                for _ in range(200):
                    await asyncio.sleep(0.2)
                    found = await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))
                    paused = {r.parameters["name"]: r.id for r in found if r.state is not None and r.state.is_paused()}
                    if len(paused) == 3:
                        break
                assert len(paused) == 3, paused  # c's 12 s leave a loaded machine time to pause all three
                await asyncio.sleep(2.5)  # all three wait together for a while
                for name in ("b", "a"):
                    await resume_flow_run(paused[name], run_input={
                        "precedents": [{"precedent_id": f"MIT#{name}", "score": 0.5}]})
            states = {name: await task for name, task in runs.items()}
        return states, {name: await states[name].aresult() for name in ("a", "b")}, time.monotonic() - started

    states, results, waited_s = asyncio.run(scenario())
    assert results == {"a": "MIT#a", "b": "MIT#b"}
    # no one resumed it: it timed out and failed, as under Prefect's own pause
    assert states["c"].is_failed() and "never resumed" in states["c"].message
    shared = [n for n in reads if n > 1]
    assert shared, reads  # at least one read asked for several paused runs at once
    # one read a second for all of them, not one a second for each
    assert len(reads) <= waited_s / 1.0 + 3, (reads, waited_s)


def test_pausing_outside_a_flow_run_is_refused():
    from flows.paused_runs import pause_for_input
    from tasks.precedents import TenantReveal

    with pytest.raises(RuntimeError, match="within a flow run"):
        asyncio.run(pause_for_input(TenantReveal, key="reveal-x", timeout_s=1))

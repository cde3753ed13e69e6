"""A run started again after a crash goes on with the reveal its tenant already gave."""

from __future__ import annotations

import asyncio
import uuid


def test_a_reveal_given_before_a_crash_is_found_again(harness):
    from prefect import flow, tags
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.flow_runs import resume_flow_run

    from flows.dispute_resolution import earlier_reveal
    from flows.paused_runs import pause_for_input
    from tasks.precedents import TenantReveal

    answer = {"precedents": [{"precedent_id": "MIT#0", "score": 0.5}]}

    @flow
    async def waits_for_its_tenant() -> dict:
        reveal = await pause_for_input(TenantReveal, key="reveal-abc", timeout_s=60)
        return reveal.model_dump(mode="json", include={"precedents"})

    async def scenario():
        tag = f"reveal-{uuid.uuid4().hex[:12]}"
        with tags(tag):
            running = asyncio.create_task(waits_for_its_tenant(return_state=True))
            async with get_client() as client:
                for _ in range(200):
                    await asyncio.sleep(0.3)
                    runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))
                    if runs and runs[0].state is not None and runs[0].state.is_paused():
                        await resume_flow_run(runs[0].id, run_input=answer)
                        break
            state = await running
        run_id = state.state_details.flow_run_id
        return state, await earlier_reveal("reveal-abc", run_id), await earlier_reveal("reveal-other", run_id)

    state, found, other = asyncio.run(scenario())
    assert state.is_completed() and asyncio.run(state.aresult()) == answer
    assert found is not None and found.model_dump(mode="json", include={"precedents"}) == answer
    assert other is None

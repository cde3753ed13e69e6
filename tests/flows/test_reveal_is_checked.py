"""A tenant's reveal that breaks a rule stops the dispute before the memo is written."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from dalrn_core.dispute.parse import load_dispute_file
from dalrn_core.errors import InputError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.search.tenant_query import prepare_search

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"


async def _resolve_with_reveal(dispute, request, tenant, precedents):
    """Run the flow in process; when it pauses, resume it with `precedents` as the answer."""
    from prefect import tags
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.flow_runs import resume_flow_run

    from flows.dispute_resolution import dispute_resolution

    tag = f"reveal-check-{uuid.uuid4().hex[:12]}"
    with tags(tag):
        flow = asyncio.create_task(dispute_resolution(
            dispute.model_dump(mode="json"), precedent_search=request, tenant=tenant,
            tenant_wait_seconds=120, return_state=True))
        async with get_client() as client:
            while not flow.done():
                await asyncio.sleep(0.3)
                runs = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tag])))
                if runs and runs[0].state is not None and runs[0].state.is_paused():
                    await resume_flow_run(runs[0].id, run_input={"precedents": precedents})
                    break
            state = await flow
            task_runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(
                id={"any_": [state.state_details.flow_run_id]}))
    return state, [run.name for run in task_runs]


def test_a_score_outside_the_cosine_range_fails_the_run_before_the_memo(harness, small_index):
    dispute = load_dispute_file(SAMPLE)
    request = prepare_search(dispute.tenant, [d.text for d in dispute.evidence],
                             LocalContentStore(), k=3)
    bad = [{"precedent_id": small_index.ids[0], "score": 0.8},
           {"precedent_id": small_index.ids[1], "score": 7.0}]
    state, ran = asyncio.run(_resolve_with_reveal(dispute, request, "reveal-check", bad))
    assert state.is_failed()
    with pytest.raises(InputError) as err:
        state.result()
    assert [p.field for p in err.value.problems] == ["precedents[1].score"]
    assert any(name.startswith("search-hits") for name in ran)  # it checks the reveal first, and failed
    assert not any(name.startswith(("explain", "anchor")) for name in ran)

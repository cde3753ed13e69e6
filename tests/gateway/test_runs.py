"""DisputeRuns against a real (closed) Prefect server: idempotent starts, state mapping."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from prefect import flow

from dalrn_core.dispute.records import record_path
from gateway.runs import DisputeRuns, RunNotFound, RunNotPaused, chain_id, settled_status
from tests.gateway.prefect_server import closed_prefect_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@flow(name="dalrn-test-dispute")
def stand_in(dispute: dict) -> dict:
    return {"dispute_id": dispute["id"]}


@pytest.fixture(scope="module")
def runs():
    with closed_prefect_server():
        asyncio.run(stand_in.to_deployment(name="gateway-test").aapply())
        yield DisputeRuns(deployment="dalrn-test-dispute/gateway-test")


async def _force(run_id: str, state) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        await client.set_flow_run_state(run_id, state, force=True)


def test_a_retried_start_returns_the_same_run_and_tenants_never_share_one(runs):
    dispute = {"id": "acme-globex-2026-001"}

    async def go():
        first = await runs.start(tenant="acme", dispute=dispute, idempotency_key="k-1")
        again = await runs.start(tenant="acme", dispute=dispute, idempotency_key="k-1")
        other_key = await runs.start(tenant="acme", dispute=dispute, idempotency_key="k-2")
        other_tenant = await runs.start(tenant="globex", dispute=dispute, idempotency_key="k-1")
        return first, again, other_key, other_tenant

    first, again, other_key, other_tenant = asyncio.run(go())
    assert first == again
    assert len({first, other_key, other_tenant}) == 3


def test_prefect_states_map_to_dispute_statuses(runs):
    from prefect.states import Cancelled, Completed, Crashed, Failed, Paused, Pending, Running

    from dalrn_core.queue import TAKEOVER_MESSAGE

    async def go():
        run_id = await runs.start(tenant="acme", dispute={"id": "states-001"}, idempotency_key="states")
        seen = [(await runs.view(run_id)).status]
        for state in (Pending(), Running(), Paused(), Failed(message="boom"), Crashed(), Cancelled(),
                      Crashed(message=f"{TAKEOVER_MESSAGE} w2: the worker that held it stopped")):
            await _force(run_id, state)
            seen.append((await runs.view(run_id)).status)
        await _force(run_id, Completed())
        done = await runs.view(run_id)
        return seen, done

    seen, done = asyncio.run(go())
    # A run a worker took over from a dead one passes through Crashed on its way back to
    # Pending: it is requeued, not failed.
    assert seen == ["queued", "queued", "running", "awaiting_tenant", "failed", "failed", "failed", "queued"]
    # Completed with no persisted result and no record: settled, anchor not yet known.
    assert done.status == "resolved" and done.result is None and done.state_name == "Completed"


def test_unknown_runs_and_runs_of_other_deployments_do_not_exist(runs):
    async def go():
        with pytest.raises(RunNotFound):
            await runs.view("not-a-uuid")
        with pytest.raises(RunNotFound):
            await runs.view("00000000-0000-0000-0000-000000000000")
        elsewhere = DisputeRuns(deployment="dalrn-test-dispute/gateway-test")
        elsewhere._deployment_id = uuid.uuid4()  # a run of another deployment
        run_id = await runs.start(tenant="acme", dispute={"id": "other-001"}, idempotency_key="other")
        with pytest.raises(RunNotFound):
            await elsewhere.view(run_id)

    asyncio.run(go())


def test_reveal_refuses_a_run_that_is_not_paused(runs):
    async def go():
        run_id = await runs.start(tenant="acme", dispute={"id": "reveal-001"}, idempotency_key="reveal")
        with pytest.raises(RunNotPaused):
            await runs.reveal(run_id, [])

    asyncio.run(go())


def test_anchored_status_comes_from_the_record_or_the_result():
    assert settled_status({"merkle_root": "0x01", "tx_hash": "0x02"}, None)[0] == "anchored"
    assert settled_status({"merkle_root": None, "tx_hash": None}, None)[0] == "resolved"
    assert chain_id({"dispute": {"id": "x-1"}}) == "x-1" and chain_id({}) is None
    path = record_path("no-explain-yet")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"dispute_id": "no-explain-yet", "receipts": []}))
    assert settled_status(None, "no-explain-yet") == ("resolved", None)


def test_a_reveal_inside_the_moment_before_prefect_saves_the_input_schema_waits_for_it(runs):
    """Prefect proposes Paused, then saves the schema of the input it waits for; a resume in
    between is refused ("Run input schema not found"). The reveal waits for the schema."""
    from uuid import UUID

    from prefect.input import RunInput, keyset_from_paused_state
    from prefect.states import Paused

    class TenantReveal(RunInput):
        precedents: list[dict]

    async def go():
        run_id = await runs.start(tenant="acme", dispute={"id": "schema-001"}, idempotency_key="schema")
        paused = Paused(timeout_seconds=600, pause_key="tenant-reveal")
        keyset = keyset_from_paused_state(paused)
        paused.state_details.run_input_keyset = keyset
        await _force(run_id, paused)
        assert (await runs.view(run_id)).status == "awaiting_tenant"

        async def save_schema_later():
            await asyncio.sleep(1.5)
            await TenantReveal.asave(keyset, flow_run_id=UUID(run_id))

        saver = asyncio.create_task(save_schema_later())
        await runs.reveal(run_id, [{"precedent_id": "p-1", "score": 0.5}])
        await saver
        return (await runs.view(run_id)).status

    assert asyncio.run(go()) != "awaiting_tenant"  # resumed with the tenant's reveal


def test_one_client_serves_every_call_in_a_loop_and_each_loop_gets_its_own(runs):
    async def calls() -> tuple[list, object]:
        run_id = await runs.start(tenant="acme", dispute={"id": "client-001"}, idempotency_key="client")
        used = []
        for _ in range(3):
            await runs.view(run_id)
            used.append(runs._shared[0])
        await asyncio.gather(*(runs.view(run_id) for _ in range(8)))  # at once, still the one client
        used.append(runs._shared[0])
        client = runs._shared[0]
        await runs.aclose()
        return used, client

    first, closed = asyncio.run(calls())
    assert all(c is first[0] for c in first) and closed._closed and runs._shared is None
    second, _ = asyncio.run(calls())
    assert second[0] is not first[0]


def test_reads_at_once_share_one_prefect_call_and_each_gets_its_own_run(runs):
    from prefect.states import Failed, Running

    async def go():
        ids = [await runs.start(tenant="acme", dispute={"id": f"batch-{i}"}, idempotency_key=f"batch-{i}")
               for i in range(5)]
        await _force(ids[1], Running())
        await _force(ids[2], Failed(message="boom"))
        async with runs._client() as client:
            calls = []
            real = client.read_flow_runs

            async def counted(**kwargs):
                calls.append(len(kwargs["flow_run_filter"].id.any_))
                return await real(**kwargs)

            client.read_flow_runs = counted
            try:
                views = await asyncio.gather(*(runs.view(ids[i % 5]) for i in range(20)),
                                             runs.view(str(uuid.uuid4())), return_exceptions=True)
            finally:
                client.read_flow_runs = real
        return views, calls

    views, calls = asyncio.run(go())
    assert calls == [6]  # 21 reads, 6 distinct runs, one call
    assert [v.status for v in views[:5]] == ["queued", "running", "failed", "queued", "queued"]
    assert [v.status for v in views[5:20]] == [v.status for v in views[:5]] * 3
    assert isinstance(views[20], RunNotFound)


def test_a_failed_shared_read_reaches_every_reader_of_its_window(runs):
    import httpx

    async def go():
        run_id = await runs.start(tenant="acme", dispute={"id": "batch-down"}, idempotency_key="batch-down")
        async with runs._client() as client:
            real = client.read_flow_runs

            async def down(**kwargs):
                raise httpx.ConnectError("Prefect is down")

            client.read_flow_runs = down
            try:
                answers = await asyncio.wait_for(asyncio.gather(*(runs.view(run_id) for _ in range(4)),
                                                                return_exceptions=True), 10)
            finally:
                client.read_flow_runs = real
            after = await runs.view(run_id)  # the next window reads again
        return answers, after

    answers, after = asyncio.run(go())
    assert all(isinstance(a, httpx.ConnectError) for a in answers) and after.status == "queued"

"""Durable progress: a dispute is finished once or visibly failed, never lost, never doubled.

Real Prefect (the session's test server), the real dispute flow in process, the embedded
chain: a dispute resolved twice writes one receipt chain and one anchor; a run that died
before its anchor reuses everything it finished; a `Running` run whose heartbeat stopped is
marked `Crashed` and started again as the same run; an accepted dispute whose run was never
created gets one; and the same dispute submitted again through the gateway starts nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
import rfc8785

from dalrn_core.dispute.parse import load_dispute_file
from dalrn_core.dispute.records import chain_key, load_record
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import pending
from dalrn_core.podp.ledger import load_receipts, receipt_cids
from dalrn_core.podp.verify import verify_dispute

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"
STEPS = ["intake", "route", "embed", "precedents", "negotiate", "explain", "anchor"]
DEPLOYMENT = "dispute-resolution/durability"


def _dispute(dispute_id: str) -> dict:
    dispute = load_dispute_file(SAMPLE).model_dump(mode="json")
    dispute["id"] = dispute_id
    return dispute


def _steps(chain: str) -> list[str]:
    return [r["step"] for r in load_receipts(chain, LocalContentStore())]


@pytest.fixture(scope="module")
def deployment(harness, small_index):
    """The dispute flow as a deployment of the test server (nothing serves it: runs are executed here)."""
    from flows.dispute_resolution import dispute_resolution

    asyncio.run(dispute_resolution.to_deployment(name="durability").aapply())
    return DEPLOYMENT


async def _run_in_process(flow_run_id):
    """Execute a created (or rescheduled) run here, as a dispute worker does: the same flow run."""
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow_async

    from flows.dispute_resolution import dispute_resolution

    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
    return await run_flow_async(dispute_resolution, flow_run=run, parameters=dict(run.parameters),
                                return_type="state")


async def _task_states(flow_run_id) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async with get_client() as client:
        tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {t.name.rsplit("-", 1)[0]: t.state.name for t in tasks if t.state is not None}


def test_the_same_dispute_resolved_twice_has_one_chain_and_one_anchor(harness, small_index):
    from flows.dispute_resolution import dispute_resolution

    dispute = _dispute("durable-twice")
    first = asyncio.run(dispute_resolution(dispute, tenant="firm-a"))
    chain = chain_key("firm-a", "durable-twice")
    anchor, receipts = load_record(chain)["anchor"], receipt_cids(chain)
    assert _steps(chain) == STEPS and first["receipts"] == receipts

    second = asyncio.run(dispute_resolution(dispute, tenant="firm-a"))
    assert receipt_cids(chain) == receipts and _steps(chain) == STEPS  # not one receipt more
    # No second anchoring: the anchored leaf is still the explain receipt's, and nothing is queued.
    assert load_record(chain)["anchor"] == anchor and anchor["leaf_receipt_cid"] == receipts[-2]
    assert (second["receipts"], second["merkle_root"], second["tx_hash"]) == \
        (receipts, first["merkle_root"], first["tx_hash"])
    assert second["settlement"] == first["settlement"] and second["memo_cid"] == first["memo_cid"]
    assert pending() == [] and verify_dispute(chain)


def test_a_run_that_died_before_its_anchor_reuses_what_it_finished(harness, small_index):
    from flows.dispute_resolution import dispute_resolution

    dispute = _dispute("durable-died")
    chain = chain_key("firm-a", "durable-died")
    # The run dies at its anchor stage (its chain client cannot be made), after explain was signed.
    died = asyncio.run(dispute_resolution(dispute, tenant="firm-a", chain_block="no-such-chain", return_state=True))
    assert died.is_failed() and _steps(chain) == STEPS[:-1]
    written = receipt_cids(chain)

    again = asyncio.run(dispute_resolution(dispute, tenant="firm-a", return_state=True))
    assert again.is_completed()
    assert receipt_cids(chain)[:-1] == written and _steps(chain) == STEPS  # only the anchor receipt is new
    states = asyncio.run(_task_states(again.state_details.flow_run_id))
    assert states["route"] == "Cached" and states["embed"] == "Cached" and states["negotiate"] == "Cached"
    result = asyncio.run(again.aresult())
    anchor = load_record(chain)["anchor"]
    assert result["merkle_root"] == anchor["root"] and anchor["leaf_receipt_cid"] == written[-1]  # the explain head
    assert pending() == [] and verify_dispute(chain)


def test_a_run_whose_heartbeat_stopped_is_marked_crashed_and_resumed(deployment, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    from flows.reconcile import reconcile_disputes
    from gateway.db import open_database
    from gateway.db.models import DisputeRow
    from gateway.runs import DisputeRuns

    runs = DisputeRuns(DEPLOYMENT)
    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    engine, sessions = open_database(database)
    row_id, _ = _accepted_row(sessions, "firm-b", _dispute("durable-crashed"), minutes_ago=5)

    async def scenario():
        run_id = await runs.start(tenant="firm-b", dispute=_dispute("durable-crashed"), idempotency_key="k-crash")
        with sessions() as db:  # the gateway read the run while it was Crashed: it showed it as failed
            row = db.get(DisputeRow, row_id)
            row.flow_run_id, row.status = run_id, "failed"
            db.commit()
        async with get_client() as client:
            await client.set_flow_run_state(UUID(run_id), Running(), force=True)  # its process then dies: no heartbeat
        live = await reconcile_disputes(database_url=database, runs=runs, stale_after_s=90)
        assert run_id not in live.crashed + live.resumed  # beating a moment ago: left alone
        later = datetime.now(UTC) + timedelta(seconds=120)
        report = await reconcile_disputes(database_url=database, runs=runs, stale_after_s=90, now=later)
        assert run_id in report.crashed and run_id in report.resumed
        async with get_client() as client:
            run = await client.read_flow_run(UUID(run_id))
            states = [s.type.value for s in await client.read_flow_run_states(UUID(run_id))]
        assert run.state.is_scheduled() and "CRASHED" in states  # crashed, visibly, then started again
        final = await _run_in_process(UUID(run_id))
        return final

    final = asyncio.run(scenario())
    assert final.is_completed()
    with sessions() as db:
        assert db.get(DisputeRow, row_id).status == "queued"  # following its run again, no longer failed
    engine.dispose()
    chain = chain_key("firm-b", "durable-crashed")
    assert _steps(chain) == STEPS and verify_dispute(chain)


def test_a_run_that_keeps_its_heartbeat_is_left_running(deployment, tmp_path):
    import time

    from prefect.client.orchestration import get_client
    from prefect.events import emit_event
    from prefect.states import Cancelled, Running

    from flows.reconcile import heartbeats, reconcile_disputes
    from gateway.runs import DisputeRuns

    runs = DisputeRuns(DEPLOYMENT)
    database = f"sqlite:///{tmp_path / 'gateway.db'}"

    async def start_running():
        run_id = await runs.start(tenant="firm-b", dispute=_dispute("durable-beating"), idempotency_key="k-beat")
        async with get_client() as client:
            await client.set_flow_run_state(UUID(run_id), Running(), force=True)
        return run_id

    run_id = asyncio.run(start_running())
    time.sleep(3)  # its heartbeat comes after it began running, as a live run's does
    emit_event(event="prefect.flow-run.heartbeat", resource={"prefect.resource.id": f"prefect.flow-run.{run_id}"})

    async def scenario():
        async with get_client() as client:
            for _ in range(60):  # the server stores events in batches
                beats = await heartbeats(client, run_id)
                if beats:
                    break
                await asyncio.sleep(0.5)
        assert len(beats) == 1
        # 80 s after its beat, 83 s after it began running: dead by its start, alive by its beat.
        report = await reconcile_disputes(database_url=database, runs=runs, stale_after_s=81,
                                          now=beats[0] + timedelta(seconds=80))
        async with get_client() as client:
            state = (await client.read_flow_run(UUID(run_id))).state
            await client.set_flow_run_state(UUID(run_id), Cancelled(), force=True)  # not the later tests'
        return report, state

    report, state = asyncio.run(scenario())
    assert run_id not in report.crashed and state.is_running()


def test_a_crashed_run_past_its_attempts_stays_failed(deployment, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Crashed

    from flows.reconcile import reconcile_disputes
    from gateway.runs import DisputeRuns

    runs = DisputeRuns(DEPLOYMENT)

    async def scenario():
        run_id = await runs.start(tenant="firm-b", dispute=_dispute("durable-given-up"), idempotency_key="k-up")
        async with get_client() as client:
            await client.set_flow_run_state(UUID(run_id), Crashed(message="killed"), force=True)
        report = await reconcile_disputes(database_url=f"sqlite:///{tmp_path / 'g.db'}", runs=runs, max_attempts=0)
        async with get_client() as client:
            state = (await client.read_flow_run(UUID(run_id))).state
            await client.set_flow_run_state(UUID(run_id), Cancelled(), force=True)  # not the later tests' to resume
        return run_id, report, state

    run_id, report, state = asyncio.run(scenario())
    assert run_id in report.given_up and run_id not in report.resumed and state.is_crashed()


def _accepted_row(sessions, tenant: str, dispute: dict, minutes_ago: float):
    from gateway.db.models import DisputeRow, Tenant
    from gateway.identity import create_tenant

    data = {**dispute, "tenant": tenant}
    digest = hashlib.sha256(rfc8785.dumps(data)).hexdigest()
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    with sessions() as db:
        if db.get(Tenant, tenant) is None:
            create_tenant(db, tenant)
        row = DisputeRow(tenant=tenant, dispute_id=dispute["id"], parties=[tenant], body=data, body_hash=digest,
                         flow_run_id=None, status="queued", result=None, submitted_at=at, updated_at=at)
        db.add(row)
        db.commit()
        return row.id, digest


def test_an_accepted_dispute_with_no_run_is_started_once(deployment, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.reconcile import reconcile_disputes
    from gateway.db import open_database
    from gateway.db.models import DisputeRow
    from gateway.runs import DisputeRuns, run_key

    database = f"sqlite:///{tmp_path / 'gateway.db'}"
    engine, sessions = open_database(database)
    old, digest = _accepted_row(sessions, "firm-c", _dispute("durable-orphan"), minutes_ago=5)
    fresh, _ = _accepted_row(sessions, "firm-c", _dispute("durable-just-now"), minutes_ago=0)
    runs = DisputeRuns(DEPLOYMENT)

    first = asyncio.run(reconcile_disputes(database_url=database, runs=runs))
    again = asyncio.run(reconcile_disputes(database_url=database, runs=runs))
    with sessions() as db:
        started, waiting = db.get(DisputeRow, old), db.get(DisputeRow, fresh)
    assert first.started == ["firm-c/durable-orphan"] and again.started == []  # the gateway's own moment is left to it
    assert started.flow_run_id is not None and waiting.flow_run_id is None

    async def created():
        async with get_client() as client:
            return await client.read_flow_run(UUID(started.flow_run_id))

    run = asyncio.run(created())
    assert run.idempotency_key == run_key("firm-c", f"dispute-{digest}")  # the key the gateway would have used
    assert run.parameters["dispute"]["id"] == "durable-orphan" and run.parameters["tenant"] == "firm-c"
    engine.dispose()


def test_the_same_dispute_submitted_again_through_the_gateway_starts_nothing(deployment, tmp_path):
    from fastapi.testclient import TestClient
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    from flows.reconcile import reconcile_disputes
    from gateway.runs import DisputeRuns
    from tests.gateway.gateway_app import add_tenant, bearer, make_app, token_of

    runs = DisputeRuns(DEPLOYMENT)
    app = make_app(tmp_path, runs=runs)
    body = {k: v for k, v in _dispute("durable-resubmit").items() if k != "tenant"}
    with TestClient(app) as client:
        token = token_of(client, add_tenant(app, "firm-d"))
        submit = lambda key: client.post("/v1/disputes", json=body,
                                         headers={**bearer(token), "Idempotency-Key": key})
        accepted = submit("first")
        assert accepted.status_code == 202, accepted.text
        replay, other = submit("first"), submit("second")  # while its run is live
        assert replay.status_code == 202 and other.status_code == 409 and other.json()["error"]["code"] == "dispute.exists"
        with app.state.sessions() as db:
            from gateway.db.models import DisputeRow

            (row,) = db.query(DisputeRow).filter_by(tenant="firm-d").all()
        final = asyncio.run(_run_in_process(UUID(row.flow_run_id)))
        assert final.is_completed()
        view = client.get("/v1/disputes/durable-resubmit", headers=bearer(token)).json()
        assert view["status"] == "anchored"
        assert submit("third").status_code == 409 and submit("first").status_code == 202  # after it ended
        report = asyncio.run(reconcile_disputes(database_url=app.state.settings.database_url, runs=runs))
        assert report.started == [] and row.flow_run_id not in report.resumed + report.crashed

    async def tenant_runs():
        async with get_client() as prefect:
            return await prefect.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["tenant-firm-d"])))

    assert len(asyncio.run(tenant_runs())) == 1
    chain = chain_key("firm-d", "durable-resubmit")
    assert _steps(chain) == STEPS and json.loads(LocalContentStore().get(receipt_cids(chain)[0]))["step"] == "intake"


def test_the_reconcile_flow_runs_a_pass_and_says_what_it_did(harness, tmp_path, monkeypatch):
    from flows.reconcile import dispute_reconcile

    monkeypatch.setenv("DALRN_GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'gateway.db'}")
    state = asyncio.run(dispute_reconcile(return_state=True))
    assert state.is_completed()
    report = asyncio.run(state.aresult())
    assert set(report) == {"crashed", "resumed", "given_up", "started", "joint_handled"}

"""One trace per dispute: the gateway's request, the run's start, the flow run, each task.

The gateway (in process) accepts a dispute; its run is created through Prefect's API with
the request's trace context in its labels, then executed here as a dispute worker does
(`run_flow_async` on that flow run). The SDK's in-memory exporter sees every span: all share
the dispute's trace id, which its status names, and each hangs under the right parent.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from uuid import UUID

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dalrn_core.observability.tracing import (
    configure_tracing,
    extract_context,
    inject_context,
    trace_id_of,
    tracer,
)
from tests.gateway.gateway_app import add_tenant, bearer, client_of, make_app, token_of

SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())
TASKS = ("intake", "route", "embed", "search-hits", "negotiate", "explain", "anchor")

pytestmark = [pytest.mark.timeout(600)]


def test_context_round_trips_through_a_carrier():
    exporter = InMemorySpanExporter()
    configure_tracing("test", processors=(SimpleSpanProcessor(exporter),))
    with tracer().start_as_current_span("producer") as producer:
        carrier = inject_context()
    assert trace_id_of(carrier["traceparent"]) == format(producer.get_span_context().trace_id, "032x")
    with tracer().start_as_current_span("consumer", context=extract_context(carrier)):
        pass
    consumer = next(s for s in exporter.get_finished_spans() if s.name == "consumer")
    assert consumer.parent is not None and consumer.parent.span_id == producer.get_span_context().span_id
    assert extract_context({}) == {} and inject_context() == {}  # outside any span: nothing to carry


def test_one_trace_from_request_to_anchor(harness, small_index, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow_async

    from dalrn_cli.worker import ensure_deployment
    from flows.dispute_resolution import dispute_resolution

    exporter = InMemorySpanExporter()
    configure_tracing("test", processors=(SimpleSpanProcessor(exporter),))
    asyncio.run(ensure_deployment())
    app = make_app(tmp_path)
    issued = add_tenant(app, "acme-legal")
    dispute = {k: v for k, v in SAMPLE.items() if k != "tenant"} | {"id": "traced-001"}
    with client_of(app) as client:
        headers = bearer(token_of(client, issued))
        accepted = client.post("/v1/disputes", json=dispute, headers={**headers, "Idempotency-Key": "traced"})
        assert accepted.status_code == 202, accepted.text
        trace_id = client.get("/v1/disputes/traced-001", headers=headers).json()["trace_id"]

    async def execute() -> str:
        with app.state.sessions() as session:
            from gateway.db.models import DisputeRow

            flow_run_id = session.query(DisputeRow).filter_by(dispute_id="traced-001").one().flow_run_id
        async with get_client() as prefect:
            run = await prefect.read_flow_run(UUID(flow_run_id))
        state = await run_flow_async(dispute_resolution, flow_run=run, parameters=run.parameters, return_type="state")
        assert state.is_completed(), state.message
        return flow_run_id

    flow_run_id = asyncio.run(execute())
    assert trace_id is not None and len(trace_id) == 32
    spans = exporter.get_finished_spans()
    ours = [s for s in spans if format(s.context.trace_id, "032x") == trace_id]
    by_id = {s.context.span_id: s for s in ours}
    request = next(s for s in ours if s.name == "POST /v1/disputes")
    start = next(s for s in ours if s.name == "dispute.start")
    run_span = next(s for s in ours if s.attributes.get("prefect.run.id") == flow_run_id)
    assert request.parent is None or request.parent.span_id not in by_id  # the trace's root (or a client's)
    assert start.parent is not None and start.parent.span_id == request.context.span_id
    assert run_span.parent is not None and run_span.parent.span_id == start.context.span_id
    task_spans = [s for s in ours if s.attributes.get("prefect.run.type") == "task"]
    assert all(s.parent is not None and s.parent.span_id == run_span.context.span_id for s in task_spans)
    for task in TASKS:  # Prefect names a task run's span after the run: `<task name>-<3 hex>`
        assert any(s.name.startswith(task) for s in task_spans), f"no span for task {task}"
    assert {format(s.context.trace_id, "032x") for s in ours} == {trace_id}

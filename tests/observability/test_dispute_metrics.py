"""A resolved dispute leaves its stages, outcome, anchor gas and agent load in the catalogue."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from dalrn_cli.resolve import resolve_async
from dalrn_core.dispute.parse import load_dispute_file
from dalrn_core.observability.runs import STAGES

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"

pytestmark = [pytest.mark.timeout(600)]


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_resolution_records_stages_outcome_gas_and_agent(harness, small_index):
    dispute = load_dispute_file(SAMPLE)
    before = {stage: _value("dalrn_dispute_stage_duration_seconds_count", stage=stage) for stage in STAGES}
    resolved, anchored = _value("dalrn_disputes_resolved_total", outcome="settled"), _value("dalrn_disputes_anchored_total")
    batches, gas_sum = _value("dalrn_anchor_gas_per_batch_count"), _value("dalrn_anchor_gas_per_batch_sum")
    time_to_anchored = _value("dalrn_dispute_time_to_anchored_seconds_count")
    result = asyncio.run(resolve_async(dispute, say=lambda message: None))
    agent = str(result["mediator"])
    for stage in STAGES:  # every stage of the run, once (the trail's own timing)
        assert _value("dalrn_dispute_stage_duration_seconds_count", stage=stage) == before[stage] + 1, stage
    assert _value("dalrn_dispute_stage_duration_seconds_sum", stage="negotiate") > 0
    assert _value("dalrn_disputes_resolved_total", outcome="settled") == resolved + 1  # an equilibrium was found
    assert result["anchor_status"] == "anchored"
    assert _value("dalrn_disputes_anchored_total") == anchored + 1
    assert _value("dalrn_anchor_gas_per_batch_count") == batches + 1
    assert _value("dalrn_anchor_gas_per_batch_sum") - gas_sum > 21_000  # a contract call costs over a transfer
    assert _value("dalrn_dispute_time_to_resolved_seconds_count", outcome="settled") >= 1
    assert _value("dalrn_dispute_time_to_anchored_seconds_count") == time_to_anchored + 1  # in its own run, once
    assert _value("dalrn_soan_routed_disputes_total", agent=agent) >= 1
    assert _value("dalrn_soan_agent_observed_queue_length", agent=agent) == 0  # routed, then released
    assert _value("dalrn_soan_agent_observed_latency_seconds_count", agent=agent) >= 1
    assert 0 < _value("dalrn_soan_agent_observed_utilisation", agent=agent) <= 1
    predicted = [s for m in REGISTRY.collect() if m.name == "dalrn_soan_agent_predicted_latency" for s in m.samples
                 if s.labels["agent"] == agent]
    assert predicted and predicted[0].value > 0
    assert _value("dalrn_dispute_runs_in_progress") == 0


def test_refused_input_counts_as_rejected_at_intake(harness):
    from flows.dispute_resolution import dispute_resolution

    before = _value("dalrn_disputes_failed_total", stage="intake", reason="rejected")
    state = asyncio.run(dispute_resolution(dispute={"id": "bad dispute id with spaces"}, return_state=True))
    assert state.is_failed()
    assert _value("dalrn_disputes_failed_total", stage="intake", reason="rejected") == before + 1
    assert _value("dalrn_dispute_runs_in_progress") == 0

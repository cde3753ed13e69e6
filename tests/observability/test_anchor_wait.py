"""Time from submission to anchored: observed once per submission, whether the dispute's own
run anchored it or a later batch took the leaf the run left pending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import load_record
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.observability.disputes import record_resolution
from dalrn_core.podp.batch import anchor_pending
from dalrn_core.podp.reorg import recheck_anchors
from tests.podp.conftest import resolve_disputes

HISTOGRAM = "dalrn_dispute_time_to_anchored_seconds"


def _observed() -> tuple[float, float]:
    """(count, sum) of the time-to-anchored histogram."""
    return (REGISTRY.get_sample_value(f"{HISTOGRAM}_count") or 0.0,
            REGISTRY.get_sample_value(f"{HISTOGRAM}_sum") or 0.0)


def _resolution(chain_id: str, anchor_status: str) -> dict:
    """What a dispute run returns, as far as the metrics read it."""
    return {"chain_id": chain_id, "dispute_id": chain_id, "anchor_status": anchor_status, "mediator": 3,
            "negotiation": {"outcome": "equilibrium"}, "stage_seconds": {"anchor": 0.1}}


def test_dispute_anchored_by_a_later_batch_is_observed_once(home):
    chain_id, other = resolve_disputes(2, prefix="pending")
    store, client = LocalContentStore(), open_embedded_anchor()
    submitted = datetime.now(UTC) - timedelta(seconds=90)
    count, total = _observed()

    # The run ended with its anchor pending (the chain was down): nothing observed yet.
    record_resolution(_resolution(chain_id, "anchor_pending"), submitted)
    assert _observed() == (count, total)

    before = datetime.now(UTC)
    batch = anchor_pending(client, store)  # the scheduled anchor_batches flow's batch
    after = datetime.now(UTC)
    assert batch is not None and set(batch["chains"]) == {chain_id, other}
    # Once, for the dispute whose run left it pending (the other chain has no run here).
    assert _observed()[0] == count + 1
    waited = _observed()[1] - total
    assert (before - submitted).total_seconds() <= waited <= (after - submitted).total_seconds()
    anchored_at = datetime.fromisoformat(load_record(chain_id)["anchor"]["anchored_at"])
    assert abs(waited - (anchored_at - submitted).total_seconds()) < 1e-3

    # The same run started again (reconcile) returns the recorded anchor; a reorg re-check
    # and another batch find nothing new: still observed once.
    record_resolution(_resolution(chain_id, "anchored"), submitted)
    recheck_anchors(client, store)
    assert anchor_pending(client, store) is None
    assert _observed()[0] == count + 1


def test_batch_that_anchors_before_the_run_ends_is_observed_from_its_anchor(home):
    [chain_id] = resolve_disputes(1, prefix="raced")
    submitted = datetime.now(UTC) - timedelta(seconds=30)
    count, total = _observed()
    # Another run's batch took the leaf between this run's anchor stage and its end.
    anchor_pending(open_embedded_anchor(), LocalContentStore())
    assert _observed()[0] == count  # no run had left it pending yet
    record_resolution(_resolution(chain_id, "anchor_pending"), submitted)
    anchored_at = datetime.fromisoformat(load_record(chain_id)["anchor"]["anchored_at"])
    assert _observed()[0] == count + 1
    assert abs(_observed()[1] - total - (anchored_at - submitted).total_seconds()) < 1e-3
    record_resolution(_resolution(chain_id, "anchor_pending"), submitted)
    assert _observed()[0] == count + 1


def test_dispute_anchored_in_its_own_run_is_observed_once(home):
    [chain_id] = resolve_disputes(1, prefix="own")
    anchor_pending(open_embedded_anchor(), LocalContentStore())  # the run's own anchor stage
    submitted = datetime.now(UTC) - timedelta(seconds=12)
    count, total = _observed()
    record_resolution(_resolution(chain_id, "anchored"), submitted)
    assert _observed()[0] == count + 1 and _observed()[1] - total >= 12
    record_resolution(_resolution(chain_id, "anchored"), submitted)  # started again after a crash
    assert _observed()[0] == count + 1
    # A new submission of the same dispute (its chain continues) is a new observation.
    record_resolution(_resolution(chain_id, "anchored"), datetime.now(UTC))
    assert _observed()[0] == count + 2

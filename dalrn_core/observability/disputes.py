"""What a dispute's life records in the metric catalogue: stages, outcomes, anchoring, backlog.

The dispute flow calls `record_resolution` once its run has an answer and `record_failure`
when a stage raised; anchoring calls `record_batch` for each transaction it sends. The
backlog gauges (queue depth, anchors pending) are read at scrape time by `refresh_backlog`,
so they say what is true now, not what was true at the last dispute.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dalrn_core.observability import metrics

log = logging.getLogger("dalrn.observability")

ANCHORED = "anchored"  # a run's anchor_status once its head is on chain


def record_stages(stage_seconds: Mapping[str, float]) -> None:
    """Each stage's duration (the trail's timing) into the stage histogram."""
    for stage, seconds in stage_seconds.items():
        metrics.DISPUTE_STAGE_DURATION.labels(stage).observe(max(float(seconds), 0.0))


def outcome_of(resolution: Mapping[str, Any]) -> str:
    """`settled` (an equilibrium or a bargaining point), `no_agreement`, or `lapsed` (a joint
    dispute a party did not join in time: it had no mediator)."""
    if resolution.get("mediator") is None:
        return "lapsed"
    negotiation = resolution.get("negotiation") or {}
    outcome = negotiation.get("outcome") if isinstance(negotiation, Mapping) else None
    return "settled" if outcome in ("equilibrium", "bargaining") else "no_agreement"


def record_resolution(resolution: Mapping[str, Any], submitted_at: datetime | None) -> None:
    """A finished run: its stages, its outcome, and how long since the dispute was submitted."""
    record_stages(resolution.get("stage_seconds") or {})
    outcome = outcome_of(resolution)
    metrics.DISPUTES_RESOLVED.labels(outcome).inc()
    if submitted_at is not None:
        waited = max((datetime.now(UTC) - submitted_at).total_seconds(), 0.0)
        metrics.DISPUTE_TIME_TO_RESOLVED.labels(outcome).observe(waited)
        if resolution.get("anchor_status") == ANCHORED:
            metrics.DISPUTE_TIME_TO_ANCHORED.observe(waited)


def record_failure(stage: str, rejected: bool) -> None:
    """A run that ended in failure at `stage`: refused input (`rejected`) or an error."""
    metrics.DISPUTES_FAILED.labels(stage, "rejected" if rejected else "error").inc()


def record_batch(gas_used: int | None, disputes: int) -> None:
    """One anchoring transaction mined: its gas, its share per dispute, the disputes anchored."""
    metrics.ANCHOR_BATCHES.labels("anchored").inc()
    if disputes > 0:
        metrics.DISPUTES_ANCHORED.inc(disputes)
    if gas_used is not None:
        metrics.ANCHOR_GAS_PER_BATCH.observe(gas_used)
        if disputes > 0:
            metrics.ANCHOR_GAS_PER_DISPUTE.observe(gas_used / disputes)


def record_batch_failure() -> None:
    metrics.ANCHOR_BATCHES.labels("failed").inc()


def refresh_anchor_backlog() -> None:
    """Disputes waiting for their anchor, and how long the oldest has waited (files on disk)."""
    from dalrn_core.podp.batch import pending_ages

    ages = pending_ages()
    metrics.ANCHORS_PENDING.set(len(ages))
    metrics.ANCHORS_OLDEST_PENDING_AGE.set(max(ages, default=0.0))


def refresh_queue_depth(queue_url: str) -> None:
    """Entries of the dispute stream waiting and pending, and the oldest one's age (its id is its time)."""
    from dalrn_core.queue import DisputeQueue

    queue = DisputeQueue(queue_url)
    try:
        for state, count in queue.depth().items():
            metrics.DISPUTE_QUEUE_DEPTH.labels(state).set(count)
        oldest = queue.client.xrange(queue.stream, count=1)
        age = 0.0
        if oldest:
            first_id = oldest[0][0]
            millis = int((first_id.decode() if isinstance(first_id, bytes) else str(first_id)).split("-")[0])
            age = max(time.time() - millis / 1000.0, 0.0)
        metrics.DISPUTE_QUEUE_OLDEST_AGE.set(age)
    finally:
        queue.close()


def refresh_backlog() -> None:
    """Every backlog gauge this process can read; a source that cannot be read keeps its last value."""
    from dalrn_core.queue import queue_url

    url = queue_url()
    sources = [refresh_anchor_backlog] + ([lambda: refresh_queue_depth(url)] if url else [])
    for refresh in sources:
        try:
            refresh()
        except Exception:  # a scrape must answer even when Redis or the disk does not
            log.warning("could not refresh a backlog gauge", exc_info=True)

"""What a dispute's life records in the metric catalogue: stages, outcomes, anchoring, backlog.

The dispute flow calls `record_resolution` once its run has an answer and `record_failure`
when a stage raised; anchoring calls `record_batch` for each transaction it sends. The
time from submission to anchored is observed once per submission, wherever the anchor
happens: in the dispute's own run, or in a later batch (`anchor_batches`, another run's
batch) that takes a leaf the run left pending. The chain's record carries the bookkeeping
(`anchor_wait`: the submission time and whether it was observed), read and written under
the chain's lock, so a run started again (reconcile) or a reorg's re-anchoring never
observes it a second time. The
backlog gauges (queue depth, anchors pending) are read at scrape time by `refresh_backlog`,
so they say what is true now, not what was true at the last dispute.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dalrn_core.observability import metrics

log = logging.getLogger("dalrn.observability")

ANCHORED = "anchored"  # a run's anchor_status once its head is on chain
ANCHOR_WAIT = "anchor_wait"  # the chain record's key: {"submitted_at": ISO time, "observed": bool}


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
        anchored = resolution.get("anchor_status") == ANCHORED
        chain_id = resolution.get("chain_id")
        if not isinstance(chain_id, str) or not chain_id:
            if anchored:
                metrics.DISPUTE_TIME_TO_ANCHORED.observe(waited)
            return
        try:
            note_anchor_wait(chain_id, submitted_at, anchored_in_run=anchored)
        except Exception:
            log.warning("could not record the anchor wait of %s", chain_id, exc_info=True)


def note_anchor_wait(chain_id: str, submitted_at: datetime, *, anchored_in_run: bool) -> None:
    """A dispute run ended: observe its time to anchored now, or leave it for the batch.

    Anchored in the run: observed now (unless this submission was observed already: a run
    started again). Left pending: the submission time goes into the chain's record, for
    the batch that anchors the leaf (`observe_batch_anchor`); if a batch anchored it in
    the moment between the run's anchor stage and here, it is observed from that anchor.
    """
    from dalrn_core.dispute.records import STATUS_ANCHORED, merge_record, record_path
    from dalrn_core.podp.ledger import chain_lock

    submitted = submitted_at.astimezone(UTC).isoformat()
    with chain_lock(chain_id):
        path = record_path(chain_id)
        record: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        wait = record.get(ANCHOR_WAIT) or {}
        if wait.get("submitted_at") == submitted and wait.get("observed"):
            return  # this submission's time to anchored is in the histogram already
        observed = False
        if anchored_in_run:
            metrics.DISPUTE_TIME_TO_ANCHORED.observe(max((datetime.now(UTC) - submitted_at).total_seconds(), 0.0))
            observed = True
        elif record.get("status") == STATUS_ANCHORED:
            anchored_at = _time((record.get("anchor") or {}).get("anchored_at"))
            if anchored_at is not None and anchored_at >= submitted_at:  # this submission's anchor
                metrics.DISPUTE_TIME_TO_ANCHORED.observe((anchored_at - submitted_at).total_seconds())
                observed = True
        if path.exists():
            merge_record(chain_id, **{ANCHOR_WAIT: {"submitted_at": submitted, "observed": observed}})


def observe_batch_anchor(record: Mapping[str, Any], anchored_at: datetime) -> dict[str, Any] | None:
    """A batch anchored this chain's leaf: observe the wait of a submission its run left pending.

    Returns the record's new `anchor_wait` to write (in the same update, under the chain's
    lock), or None when there is nothing to observe (not a dispute left pending, or observed).
    """
    wait = record.get(ANCHOR_WAIT)
    if not isinstance(wait, Mapping) or wait.get("observed"):
        return None
    submitted_at = _time(wait.get("submitted_at"))
    if submitted_at is None:
        return None
    metrics.DISPUTE_TIME_TO_ANCHORED.observe(max((anchored_at - submitted_at).total_seconds(), 0.0))
    return {**wait, "observed": True}


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


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

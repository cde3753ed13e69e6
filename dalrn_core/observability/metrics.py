"""The catalogue of every Prometheus metric DALRN exports: one place for names, help, labels.

Dashboards and alert rules (deployments/) are checked against `metric_names()`, so a metric
exists here or nowhere. Objects live in prometheus-client's default registry; a process whose
environment sets ``PROMETHEUS_MULTIPROC_DIR`` (before this module is first imported) writes
its values to files there, and `exposition` then sums every process's files, so a gateway
run by several uvicorn workers, or forked dispute workers, still answers one scrape.

Label values are bounded sets only (route templates, error codes, stage and outcome names,
agent ids, tenants of the federation): never a dispute id, a raw path or free text.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector

# `_created` series double every counter's and histogram's series for no query we run.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. Requests are sub-second, stages run from milliseconds (intake) to a tenant's
# reveal (up to the flow's 900 s wait); a dispute's whole life can wait on a chain for hours.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
STAGE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                 300.0, 900.0)
LIFETIME_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
                    7200.0, 21600.0, 86400.0)
# Gas: one anchoring transaction costs about 50k-100k; a dispute's share falls with the batch.
GAS_BUCKETS = (1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 75_000, 100_000, 150_000, 250_000,
               500_000, 1_000_000)

# --- gateway -----------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "dalrn_http_requests", "HTTP requests answered by the gateway, by route template, method and status",
    ["route", "method", "status"])
HTTP_REQUEST_DURATION = Histogram(
    "dalrn_http_request_duration_seconds", "Time from request to the last response byte, by route template",
    ["route", "method"], buckets=REQUEST_BUCKETS)
HTTP_REQUESTS_IN_PROGRESS = Gauge(
    "dalrn_http_requests_in_progress", "Requests the gateway is answering now", [],
    multiprocess_mode="livesum")
REJECTED_INPUTS = Counter(
    "dalrn_gateway_rejected_inputs", "Requests refused with a 4xx error, by the error's code (for example dispute.invalid)",
    ["code"])
RATE_LIMITED = Counter(
    "dalrn_gateway_rate_limited", "Requests refused because the caller's rate limit was reached, by route template",
    ["route"])
AUTH_FAILURES = Counter(
    "dalrn_gateway_auth_failures", "Requests refused for authentication or authorization, by error code",
    ["code"])

# --- disputes ----------------------------------------------------------------------------
DISPUTES_ACCEPTED = Counter(
    "dalrn_disputes_accepted", "Disputes accepted by the gateway, by kind: a whole dispute, a joint opening, or a party joining one",
    ["kind"])
DISPUTES_RESOLVED = Counter(
    "dalrn_disputes_resolved", "Dispute runs that finished, by outcome (settled, no_agreement, ...)", ["outcome"])
DISPUTES_ANCHORED = Counter(
    "dalrn_disputes_anchored", "Disputes whose receipt chain head went on chain in an anchoring transaction", [])
DISPUTES_FAILED = Counter(
    "dalrn_disputes_failed", "Dispute runs that ended in failure, by stage and reason (rejected input or error)",
    ["stage", "reason"])
DISPUTE_STAGE_DURATION = Histogram(
    "dalrn_dispute_stage_duration_seconds", "Time a dispute spent in each stage of its flow run",
    ["stage"], buckets=STAGE_BUCKETS)
DISPUTE_QUEUE_DEPTH = Gauge(
    "dalrn_dispute_queue_depth", "Accepted disputes in the queue: waiting for a worker, or pending in a worker's hands",
    ["state"], multiprocess_mode="mostrecent")
DISPUTE_QUEUE_OLDEST_AGE = Gauge(
    "dalrn_dispute_queue_oldest_age_seconds", "Age of the oldest dispute in the queue (0 when empty)", [],
    multiprocess_mode="mostrecent")
DISPUTE_TIME_TO_RESOLVED = Histogram(
    "dalrn_dispute_time_to_resolved_seconds", "Time from submission to a finished run, by outcome",
    ["outcome"], buckets=LIFETIME_BUCKETS)
DISPUTE_TIME_TO_ANCHORED = Histogram(
    "dalrn_dispute_time_to_anchored_seconds", "Time from submission to the dispute's anchor on chain", [],
    buckets=LIFETIME_BUCKETS)
DISPUTE_RUNS_IN_PROGRESS = Gauge(
    "dalrn_dispute_runs_in_progress", "Dispute flow runs executing in this process now", [],
    multiprocess_mode="livesum")
ANCHORS_PENDING = Gauge(
    "dalrn_anchors_pending", "Disputes resolved but not yet anchored (waiting for the chain)", [],
    multiprocess_mode="mostrecent")
ANCHORS_OLDEST_PENDING_AGE = Gauge(
    "dalrn_anchors_oldest_pending_age_seconds", "Age of the oldest dispute waiting for its anchor (0 when none)", [],
    multiprocess_mode="mostrecent")
ANCHOR_BATCHES = Counter(
    "dalrn_anchor_batches", "Anchoring transactions attempted, by outcome (anchored or failed)", ["outcome"])
ANCHOR_GAS_PER_BATCH = Histogram(
    "dalrn_anchor_gas_per_batch", "Gas used by one anchoring transaction", [], buckets=GAS_BUCKETS)
ANCHOR_GAS_PER_DISPUTE = Histogram(
    "dalrn_anchor_gas_per_dispute", "A batch's gas divided by the disputes it anchored", [], buckets=GAS_BUCKETS)
CACHE_LOOKUPS = Counter(
    "dalrn_cache_lookups", "Cache lookups by cache and result (hit or miss)", ["cache", "result"])

# --- agent network (observed from routed disputes, beside the model's prediction) ---------
SOAN_ROUTED = Counter(
    "dalrn_soan_routed_disputes", "Disputes routed to each mediator agent", ["agent"])
SOAN_OBSERVED_QUEUE_LENGTH = Gauge(
    "dalrn_soan_agent_observed_queue_length", "Disputes routed to the agent and not yet finished", ["agent"],
    multiprocess_mode="livesum")
SOAN_OBSERVED_UTILISATION = Gauge(
    "dalrn_soan_agent_observed_utilisation",
    "Fraction of the last window the agent had at least one dispute in hand", ["agent"],
    multiprocess_mode="max")
SOAN_OBSERVED_LATENCY = Histogram(
    "dalrn_soan_agent_observed_latency_seconds", "Time from routing to the end of the dispute's run, per agent",
    ["agent"], buckets=STAGE_BUCKETS)
SOAN_PREDICTED_LATENCY = Gauge(
    "dalrn_soan_agent_predicted_latency",
    "Latency the routing model predicted for the agent at the last routing (model time units), by basis",
    ["agent", "basis"], multiprocess_mode="mostrecent")

# --- federated learning ------------------------------------------------------------------
FL_ROUND = Gauge(
    "dalrn_fl_round", "Last federated round completed", [], multiprocess_mode="max")
FL_ROUNDS = Counter(
    "dalrn_fl_rounds", "Federated rounds completed", [])
FL_ACCURACY = Gauge(
    "dalrn_fl_accuracy", "Accuracy of the aggregated model after the last round", [],
    multiprocess_mode="mostrecent")
FL_EPSILON_SPENT = Gauge(
    "dalrn_fl_epsilon_spent", "Differential-privacy budget (epsilon) a tenant has spent", ["tenant"],
    multiprocess_mode="mostrecent")
FL_EPSILON_REMAINING = Gauge(
    "dalrn_fl_epsilon_remaining", "Differential-privacy budget (epsilon) a tenant has left", ["tenant"],
    multiprocess_mode="mostrecent")

# --- dependencies and secrets ------------------------------------------------------------
BREAKER_STATE = Gauge(
    "dalrn_circuit_breaker_state", "1 for the state each dependency's circuit breaker is in (closed, open, half_open)",
    ["dependency", "state"], multiprocess_mode="mostrecent")
BREAKER_FAILURES = Counter(
    "dalrn_circuit_breaker_failures", "Calls to a dependency that failed (they count toward opening its breaker)",
    ["dependency"])
BREAKER_REJECTED = Counter(
    "dalrn_circuit_breaker_rejected", "Calls not attempted because the dependency's breaker was open",
    ["dependency"])
CERTIFICATE_EXPIRY = Gauge(
    "dalrn_certificate_expiry_timestamp_seconds", "When a TLS certificate the service presents expires (Unix time)",
    ["certificate"], multiprocess_mode="min")
KEY_CREATED = Gauge(
    "dalrn_key_created_timestamp_seconds", "When the signing key in use was created, or first seen for receipt keys (Unix time), for rotation",
    ["key"], multiprocess_mode="min")


@dataclass(frozen=True)
class Family:
    """One exported metric: its name, type, label names and the series names queries can use."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]

    @property
    def series(self) -> tuple[str, ...]:
        if self.kind == "counter":
            return (f"{self.name}_total",)
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)


CATALOGUE = (
    HTTP_REQUESTS, HTTP_REQUEST_DURATION, HTTP_REQUESTS_IN_PROGRESS, REJECTED_INPUTS, RATE_LIMITED,
    AUTH_FAILURES, DISPUTES_ACCEPTED, DISPUTES_RESOLVED, DISPUTES_ANCHORED, DISPUTES_FAILED,
    DISPUTE_STAGE_DURATION, DISPUTE_QUEUE_DEPTH, DISPUTE_QUEUE_OLDEST_AGE, DISPUTE_TIME_TO_RESOLVED,
    DISPUTE_TIME_TO_ANCHORED, DISPUTE_RUNS_IN_PROGRESS, ANCHORS_PENDING, ANCHORS_OLDEST_PENDING_AGE,
    ANCHOR_BATCHES, ANCHOR_GAS_PER_BATCH, ANCHOR_GAS_PER_DISPUTE, CACHE_LOOKUPS, SOAN_ROUTED,
    SOAN_OBSERVED_QUEUE_LENGTH, SOAN_OBSERVED_UTILISATION, SOAN_OBSERVED_LATENCY, SOAN_PREDICTED_LATENCY,
    FL_ROUND, FL_ROUNDS, FL_ACCURACY, FL_EPSILON_SPENT, FL_EPSILON_REMAINING, BREAKER_STATE,
    BREAKER_FAILURES, BREAKER_REJECTED, CERTIFICATE_EXPIRY, KEY_CREATED,
)


def families() -> list[Family]:
    """Every metric of the catalogue, described."""
    out = []
    for metric in CATALOGUE:
        kind = metric._type  # prometheus-client exposes no public accessor for these
        out.append(Family(name=metric._name, kind=kind, help=metric._documentation,
                          labels=tuple(metric._labelnames)))
    return out


def metric_names() -> list[str]:
    """Every series name a PromQL query can use on DALRN's metrics (``_total``, ``_bucket``...)."""
    return sorted(s for family in families() for s in family.series)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_DIR_ENV) or None


class _RefreshedOnScrape:
    """A collector that refreshes the backlog gauges, then yields `source`'s metrics."""

    def __init__(self, source: CollectorRegistry | MultiProcessCollector) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        from dalrn_core.observability.disputes import refresh_backlog

        refresh_backlog()
        yield from self.source.collect()


def scrape_registry(*, refresh_backlog: bool = True) -> CollectorRegistry:
    """The registry a scrape reads: every process's files in multiprocess mode, else this one's.

    With `refresh_backlog` each scrape first reads the queue depth and the anchors pending
    (from Redis and the data folder), so those gauges say what is true at the scrape.
    """
    source: CollectorRegistry | MultiProcessCollector = REGISTRY
    if multiprocess_dir() is not None:
        source = MultiProcessCollector(None)  # type: ignore[no-untyped-call]
    if not refresh_backlog and source is REGISTRY:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RefreshedOnScrape(source) if refresh_backlog else source)
    return registry


def exposition(*, refresh_backlog: bool = True) -> tuple[bytes, str]:
    """The Prometheus text of every metric and its content type (the body of ``/metrics``)."""
    return generate_latest(scrape_registry(refresh_backlog=refresh_backlog)), CONTENT_TYPE_LATEST

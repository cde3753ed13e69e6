"""DALRN's Grafana dashboards, built with grafana-foundation-sdk and written as provisioned JSON.

`python -m deployments.grafana.build` writes deployments/grafana/dashboards/*.json; `--check`
exits 1 when a committed file differs from what this module builds (the tests run it).
Every query reads the Prometheus datasource provisioned as `dalrn-prometheus`
(provisioning/datasources/prometheus.yml) and only metrics of the catalogue
(dalrn_core/observability/metrics.py); a test checks each panel's query against it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard, gauge, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

HERE = Path(__file__).resolve().parent
DASHBOARDS = HERE / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="dalrn-prometheus")
# Objectives, the same as the alert rules' (deployments/prometheus/rules/dalrn-alerts.yml).
AVAILABILITY_OBJECTIVE = 0.995  # of gateway requests answered without a 5xx
LATENCY_OBJECTIVE_S = 0.5  # gateway P95
RESOLUTION_OBJECTIVE_S = 600  # dispute P95 from acceptance to resolution
DISPUTE_OBJECTIVE = 0.99  # of dispute runs ending without an error (refused input is no error)

Panel = timeseries.Panel | stat.Panel | gauge.Panel


def _query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    if legend:
        query = query.legend_format(legend)
    return query.instant() if instant else query


def series(title: str, unit: str, *queries: tuple[str, str], description: str = "", width: int = 12) -> Panel:
    """A time-series panel of (expr, legend) queries."""
    panel = timeseries.Panel().title(title).datasource(DATASOURCE).unit(unit).span(width).height(8)
    if description:
        panel = panel.description(description)
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(_query(expr, legend, chr(ord("A") + index)))
    return panel


def single(title: str, unit: str, expr: str, description: str = "", width: int = 6) -> Panel:
    """A one-number panel (the value now)."""
    panel = stat.Panel().title(title).datasource(DATASOURCE).unit(unit).span(width).height(5)
    if description:
        panel = panel.description(description)
    return panel.with_target(_query(expr, instant=True))


def _board(uid: str, title: str, description: str, rows: list[tuple[str, list[Panel]]]) -> dashboard.Dashboard:
    board = (dashboard.Dashboard(title).uid(uid).description(description).tags(["dalrn"])
             .refresh("30s").time("now-24h", "now").timezone("utc").readonly())
    panel_id = 1
    for row_title, panels in rows:
        board = board.with_row(dashboard.Row(row_title).id(panel_id))
        panel_id += 1
        for panel in panels:
            board = board.with_panel(panel.id(panel_id))
            panel_id += 1
    return board


def service_health() -> dashboard.Dashboard:
    rate = "sum by (route) (rate(dalrn_http_requests_total[$__rate_interval]))"
    p95 = ("histogram_quantile(0.95, sum by (le, route) "
           "(rate(dalrn_http_request_duration_seconds_bucket[$__rate_interval])))")
    return _board("dalrn-service-health", "DALRN service health",
                  "Gateway traffic, errors and latency; the dispute queue; workers; dependencies.", [
        ("Gateway", [
            series("Requests per second by route", "reqps", (rate, "{{route}}")),
            series("Server errors (5xx) share", "percentunit",
                   (('sum(rate(dalrn_http_requests_total{status=~"5.."}[$__rate_interval])) '
                    "/ sum(rate(dalrn_http_requests_total[$__rate_interval]))"), "5xx share")),
            series("P95 latency by route", "s", (p95, "{{route}}"),
                   description=f"Objective: P95 under {LATENCY_OBJECTIVE_S} s."),
            series("Refused requests", "reqps",
                   ("sum by (code) (rate(dalrn_gateway_rejected_inputs_total[$__rate_interval]))", "input {{code}}"),
                   ("sum by (code) (rate(dalrn_gateway_auth_failures_total[$__rate_interval]))", "auth {{code}}"),
                   ("sum by (route) (rate(dalrn_gateway_rate_limited_total[$__rate_interval]))",
                    "rate limit {{route}}")),
        ]),
        ("Queue and workers", [
            series("Disputes in the queue", "short",
                   ("max by (state) (dalrn_dispute_queue_depth)", "{{state}}")),
            series("Oldest queued dispute", "s", ("max(dalrn_dispute_queue_oldest_age_seconds)", "age")),
            single("Workers up", "short", 'sum(up{job="dalrn-worker"})'),
            single("Dispute runs in progress", "short", "sum(dalrn_dispute_runs_in_progress)"),
            single("Gateway requests in progress", "short", "sum(dalrn_http_requests_in_progress)"),
            single("Cache hit share (1 h)", "percentunit",
                   'sum(increase(dalrn_cache_lookups_total{result="hit"}[1h])) '
                   "/ sum(increase(dalrn_cache_lookups_total[1h]))"),
        ]),
        ("Dependencies", [
            series("Circuit breakers open", "short",
                   ('max by (dependency) (dalrn_circuit_breaker_state{state="open"})', "{{dependency}}"),
                   description="1 while the dependency's breaker is open (calls are not attempted)."),
            series("Dependency failures and rejected calls", "short",
                   ("sum by (dependency) (rate(dalrn_circuit_breaker_failures_total[$__rate_interval]))",
                    "failed {{dependency}}"),
                   ("sum by (dependency) (rate(dalrn_circuit_breaker_rejected_total[$__rate_interval]))",
                    "not attempted {{dependency}}")),
        ]),
        ("Agent network (observed from routed disputes, beside the model)", [
            series("Observed P95 latency per agent", "s",
                   (("histogram_quantile(0.95, sum by (le, agent) "
                    "(rate(dalrn_soan_agent_observed_latency_seconds_bucket[$__rate_interval])))"), "{{agent}}")),
            series("Predicted latency per agent (model time units)", "short",
                   ("max by (agent, basis) (dalrn_soan_agent_predicted_latency)", "{{agent}} {{basis}}")),
            series("Observed queue length per agent", "short",
                   ("sum by (agent) (dalrn_soan_agent_observed_queue_length)", "{{agent}}")),
            series("Observed utilisation per agent", "percentunit",
                   ("max by (agent) (dalrn_soan_agent_observed_utilisation)", "{{agent}}")),
        ]),
    ])


def business() -> dashboard.Dashboard:
    settled = 'sum(increase(dalrn_disputes_resolved_total{outcome="settled"}[1d]))'
    resolved = "sum(increase(dalrn_disputes_resolved_total[1d]))"
    quantile = ("histogram_quantile({q}, sum by (le) "
                "(rate(dalrn_dispute_time_to_resolved_seconds_bucket[1d])))")
    return _board("dalrn-business", "DALRN disputes",
                  "Disputes per day, how many settle, and how long they take.", [
        ("Today (last 24 h)", [
            single("Accepted", "short", "sum(increase(dalrn_disputes_accepted_total[1d]))"),
            single("Resolved", "short", resolved),
            single("Settlement rate", "percentunit", f"{settled} / {resolved}"),
            single("Failed", "short", "sum(increase(dalrn_disputes_failed_total[1d]))"),
        ]),
        ("Per day", [
            series("Disputes per day", "short",
                   ("sum by (kind) (increase(dalrn_disputes_accepted_total[1d]))", "accepted {{kind}}"),
                   ("sum by (outcome) (increase(dalrn_disputes_resolved_total[1d]))", "resolved {{outcome}}"),
                   ("sum(increase(dalrn_disputes_anchored_total[1d]))", "anchored")),
            series("Settlement rate (24 h window)", "percentunit", (f"{settled} / {resolved}", "settled")),
            series("Time to resolution", "s", (quantile.format(q=0.5), "P50"), (quantile.format(q=0.95), "P95"),
                   description=f"From submission to a finished run. Objective: P95 under {RESOLUTION_OBJECTIVE_S} s."),
            series("Time to anchor", "s",
                   (("histogram_quantile(0.95, sum by (le) "
                    "(rate(dalrn_dispute_time_to_anchored_seconds_bucket[1d])))"), "P95")),
            series("Failures by stage (24 h)", "short",
                   ("sum by (stage, reason) (increase(dalrn_disputes_failed_total[1d]))", "{{stage}} {{reason}}")),
            series("P95 time per stage", "s",
                   (("histogram_quantile(0.95, sum by (le, stage) "
                    "(rate(dalrn_dispute_stage_duration_seconds_bucket[$__rate_interval])))"), "{{stage}}")),
        ]),
    ])


def _error_ratio(window: str) -> str:
    return (f'sum(rate(dalrn_http_requests_total{{status=~"5.."}}[{window}])) '
            f"/ sum(rate(dalrn_http_requests_total[{window}]))")


ERROR_BUDGET = round(1 - AVAILABILITY_OBJECTIVE, 6)
# The windows of the burn-rate panel: the alert DalrnErrorBudgetBurn reads 1h with 5m and 6h
# with 30m (the multiwindow rule of Google's SRE workbook), with these very expressions.
BURN_WINDOWS = ("5m", "30m", "1h", "6h", "3d")


def burn_rate(window: str) -> str:
    """The error budget's burn rate over `window`: the 5xx ratio divided by the budget."""
    return f"({_error_ratio(window)}) / {ERROR_BUDGET}"


def _dispute_error_ratio(window: str) -> str:
    return (f'sum(rate(dalrn_disputes_failed_total{{reason="error"}}[{window}])) '
            f"/ (sum(rate(dalrn_disputes_resolved_total[{window}])) + sum(rate(dalrn_disputes_failed_total[{window}])))")


DISPUTE_ERROR_BUDGET = round(1 - DISPUTE_OBJECTIVE, 6)


def dispute_burn_rate(window: str) -> str:
    """The dispute error budget's burn rate over `window` (DalrnDisputeErrorBudgetBurn reads it)."""
    return f"({_dispute_error_ratio(window)}) / {DISPUTE_ERROR_BUDGET}"


def slo_burn() -> dashboard.Dashboard:
    budget = ERROR_BUDGET
    fast = (f'sum(rate(dalrn_http_request_duration_seconds_bucket{{le="{LATENCY_OBJECTIVE_S}"}}[1h])) '
            "/ sum(rate(dalrn_http_request_duration_seconds_count[1h]))")
    return _board("dalrn-slo", "DALRN SLO burn",
                  f"Availability objective {AVAILABILITY_OBJECTIVE:.1%} of requests without a 5xx: the error "
                  f"budget is {budget:.1%}. A burn rate of 1 spends it exactly over 30 days.", [
        ("Availability", [
            series("Error budget burn rate", "short",
                   *((burn_rate(window), window) for window in BURN_WINDOWS),
                   description="At 14.4 for an hour, 2% of the 30-day budget is gone in that hour. "
                               "DalrnErrorBudgetBurn pages when 1h and 5m are both over 14.4, "
                               "or 6h and 30m both over 6."),
            single("Availability (30 d)", "percentunit", f"1 - ({_error_ratio('30d')})"),
            single("Error budget left (30 d)", "percentunit", f"1 - ({_error_ratio('30d')}) / {budget}"),
        ]),
        ("Disputes", [
            series("Dispute error budget burn rate", "short",
                   *((dispute_burn_rate(window), window) for window in BURN_WINDOWS),
                   description=f"Objective {DISPUTE_OBJECTIVE:.0%} of dispute runs ending without an error "
                               "(refused input is no error). DalrnDisputeErrorBudgetBurn pages on the "
                               "same windows and thresholds as the gateway's."),
            single("Dispute runs without error (30 d)", "percentunit", f"1 - ({_dispute_error_ratio('30d')})"),
            single("Dispute error budget left (30 d)", "percentunit",
                   f"1 - ({_dispute_error_ratio('30d')}) / {DISPUTE_ERROR_BUDGET}"),
        ]),
        ("Latency", [
            series(f"Requests answered within {LATENCY_OBJECTIVE_S} s", "percentunit", (fast, "within objective")),
            series("Disputes resolved within the objective", "percentunit",
                   ((f'sum(rate(dalrn_dispute_time_to_resolved_seconds_bucket{{le="{RESOLUTION_OBJECTIVE_S:.1f}"}}[1d])) '
                    "/ sum(rate(dalrn_dispute_time_to_resolved_seconds_count[1d]))"), "within 10 min")),
        ]),
    ])


def chain_costs() -> dashboard.Dashboard:
    return _board("dalrn-chain", "DALRN anchoring and chain costs",
                  "Anchoring transactions, their gas, and disputes waiting for the chain.", [
        ("Waiting", [
            single("Disputes waiting for their anchor", "short", "max(dalrn_anchors_pending)"),
            single("Oldest wait", "s", "max(dalrn_anchors_oldest_pending_age_seconds)"),
            series("Anchoring transactions", "short",
                   ("sum by (outcome) (increase(dalrn_anchor_batches_total[1h]))", "{{outcome}} per hour")),
        ]),
        ("Gas", [
            series("Gas per anchoring transaction", "short",
                   ("histogram_quantile(0.5, sum by (le) (rate(dalrn_anchor_gas_per_batch_bucket[1h])))", "P50"),
                   ("histogram_quantile(0.95, sum by (le) (rate(dalrn_anchor_gas_per_batch_bucket[1h])))", "P95")),
            series("Gas per dispute", "short",
                   (("sum(rate(dalrn_anchor_gas_per_dispute_sum[1h])) "
                    "/ sum(rate(dalrn_anchor_gas_per_dispute_count[1h]))"), "mean")),
            single("Gas spent (24 h)", "short", "sum(increase(dalrn_anchor_gas_per_batch_sum[1d]))"),
        ]),
    ])


def privacy_budget() -> dashboard.Dashboard:
    return _board("dalrn-privacy", "DALRN federated learning and privacy budget",
                  "Each tenant's differential-privacy budget (epsilon) spent and left; rounds and accuracy.", [
        ("Budget", [
            series("Epsilon spent per tenant", "short", ("max by (tenant) (dalrn_fl_epsilon_spent)", "{{tenant}}")),
            series("Share of the budget left", "percentunit",
                   (("max by (tenant) (dalrn_fl_epsilon_remaining / (dalrn_fl_epsilon_remaining "
                    "+ dalrn_fl_epsilon_spent))"), "{{tenant}}"),
                   description="DalrnPrivacyBudgetNearlySpent fires under 10%."),
        ]),
        ("Rounds", [
            single("Last round", "short", "max(dalrn_fl_round)"),
            single("Accuracy after the last round", "percentunit", "max(dalrn_fl_accuracy)"),
            series("Rounds per day", "short", ("sum(increase(dalrn_fl_rounds_total[1d]))", "rounds")),
        ]),
    ])


BOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "service-health": service_health,
    "business": business,
    "slo-burn": slo_burn,
    "chain-costs": chain_costs,
    "privacy-budget": privacy_budget,
}


def render(name: str) -> str:
    built: Any = BOARDS[name]().build()
    return json.dumps(built, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query of a dashboard's JSON."""
    return [(panel.get("title", ""), target["expr"]) for panel in board.get("panels", [])
            for target in panel.get("targets", []) if "expr" in target]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed dashboard is stale")
    args = parser.parse_args(argv)
    stale = []
    for name in BOARDS:
        path = DASHBOARDS / f"{name}.json"
        text = render(name)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent.parent)}")
    if stale:
        print(f"stale: {', '.join(stale)}: run python -m deployments.grafana.build", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

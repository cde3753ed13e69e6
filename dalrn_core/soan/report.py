"""What a rewiring run reports: latency before and after, and the Prometheus text file.

Both networks are simulated with the same seed (common random numbers), so the difference
reflects the topology, not the draw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dalrn_core.config import sub_dir
from dalrn_core.soan.metrics import SoanMetrics
from dalrn_core.soan.network import solve
from dalrn_core.soan.rewire import IterationMetrics
from dalrn_core.soan.simulation import simulate
from dalrn_core.soan.store import NetworkVersion


def compare(
    before: NetworkVersion, after: NetworkVersion, *, jobs: int = 50_000, seed: int = 0
) -> dict[str, Any]:
    """Closed-form and simulated mean latency of both versions and the simulated drop."""
    summary: dict[str, Any] = {}
    for name, version in (("before", before), ("after", after)):
        summary[name] = {
            "hash": version.hash,
            "closed_form_latency": solve(version.graph, version.state).mean_latency,
            "simulated_latency": simulate(
                version.graph, version.state, jobs=jobs, seed=seed
            ).mean_latency,
        }
    summary["simulated_reduction"] = (
        1 - summary["after"]["simulated_latency"] / summary["before"]["simulated_latency"]
    )
    return summary


def summary_markdown(summary: dict[str, Any]) -> str:
    rows = "".join(
        f"| {k} | `{summary[k]['hash'][:12]}` | {summary[k]['closed_form_latency']:.3f} | "
        f"{summary[k]['simulated_latency']:.3f} |\n"
        for k in ("before", "after")
    )
    return (
        "| network | hash | closed-form latency | simulated latency |\n|---|---|---|---|\n"
        + rows
        + f"\nSimulated mean latency change: {-100 * summary['simulated_reduction']:+.1f}%\n"
    )


def write_prometheus(
    version: NetworkVersion, history: list[dict[str, Any]], *, jobs: int = 50_000, seed: int = 0
) -> Path:
    """Per-agent gauges (from a simulation) and rewiring counters, in the text format a
    node_exporter textfile collector reads: `soan/metrics.prom` in the data folder."""
    metrics = SoanMetrics()
    run = simulate(version.graph, version.state, jobs=jobs, seed=seed)
    metrics.observe_network(version.graph, version.state, run)
    for row in history:
        metrics.observe_iteration(IterationMetrics(**row))
    path = sub_dir("soan") / "metrics.prom"
    path.write_bytes(metrics.exposition())
    return path

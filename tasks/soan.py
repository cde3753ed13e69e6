"""Mediator network tasks: load the live network, rewire it, store it, publish plot and metrics."""

from __future__ import annotations

import base64

from prefect import task
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from dalrn_core.config import sub_dir
from dalrn_core.soan.plot import render_network_png
from dalrn_core.soan.predict import ensure_predictor
from dalrn_core.soan.report import compare, summary_markdown, write_prometheus
from dalrn_core.soan.rewire import RewireConfig, rewire
from dalrn_core.soan.store import load_current_network, load_network, load_predictor, save_network


@task(name="soan-current-network", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def current_network() -> str:
    """Hash of the live network (the default small world on a fresh data folder)."""
    return load_current_network().hash


@task(name="soan-latency-predictor", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=[5])
def latency_predictor() -> str:
    """Hash of the latest stored GCN predictor, training and storing one if none exists."""
    return ensure_predictor()[1]


@task(name="soan-rewire", cache_policy=NO_CACHE)
def rewire_network(
    network_hash: str, model_hash: str, iterations: int, seed: int | None, sim_jobs_per_node: int
) -> dict:
    """Run the epsilon-greedy rewiring; returns the new edges and per-iteration metrics."""
    if seed is None:  # each version explores differently, reproducibly from its hash
        seed = int(network_hash[:8], 16)
    version = load_network(network_hash)
    config = RewireConfig(
        iterations=iterations,
        seed=seed,
        sim_jobs_per_node=sim_jobs_per_node,
        max_degree=max(12, max(d for _, d in version.graph.degree())),
    )
    graph, history = rewire(version.graph, version.state, load_predictor(model_hash), config)
    return {"edges": sorted(graph.edges()), "history": [h.as_dict() for h in history]}


@task(name="soan-store-network", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def store_network(parent_hash: str, edges: list, model_hash: str, iterations: int) -> str:
    """Store the rewired network as a new version and make it current; returns its hash."""
    parent = load_network(parent_hash)
    graph = parent.graph.copy()
    graph.remove_edges_from(list(graph.edges()))
    graph.add_edges_from(tuple(e) for e in edges)
    return save_network(
        graph,
        parent.state,
        parent=parent_hash,
        meta={"model": model_hash, "iterations": iterations},
    )


@task(name="soan-publish-plot", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def publish_plot(network_hash: str) -> str:
    """Render the network to PNG and publish it as an image artifact (a data URI)."""
    version = load_network(network_hash)
    path = sub_dir("soan", "plots") / f"{network_hash}.png"
    render_network_png(
        version.graph, version.state, path, title=f"network {network_hash[:12]}", dpi=60
    )
    create_image_artifact(
        image_url="data:image/png;base64," + base64.b64encode(path.read_bytes()).decode(),
        key="soan-network",
        description=f"Mediator network {network_hash[:12]}: colour = utilisation, "
        "size = queue length",
    )
    return str(path)


@task(name="soan-publish-metrics", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 5])
def publish_metrics(before_hash: str, after_hash: str, history: list[dict]) -> dict:
    """Per-iteration table, before/after summary and the Prometheus text file."""
    before, after = load_network(before_hash), load_network(after_hash)
    if history:
        create_table_artifact(
            table=history,
            key="soan-rewire-metrics",
            description="Rewiring bandit, one row per iteration",
        )
    summary = compare(before, after)
    create_markdown_artifact(markdown=summary_markdown(summary), key="soan-rewire-summary")
    summary["prometheus"] = str(write_prometheus(after, history))
    return summary

"""Keep the mediator network fast: rewire it under its current load, on a schedule."""

from __future__ import annotations

from prefect import flow

from tasks.soan import (
    current_network,
    latency_predictor,
    publish_metrics,
    publish_plot,
    rewire_network,
    store_network,
)


@flow(name="soan_rewire", log_prints=True)
def soan_rewire(
    iterations: int = 20, seed: int | None = None, sim_jobs_per_node: int = 100
) -> dict:
    """Load the live network, rewire it, store the new version, publish plot and metrics."""
    network = current_network()
    model = latency_predictor()
    result = rewire_network(network, model, iterations, seed, sim_jobs_per_node)
    new_network = store_network(network, result["edges"], model, iterations)
    plot = publish_plot(new_network)
    summary = publish_metrics(network, new_network, result["history"])
    before, after = summary["before"]["simulated_latency"], summary["after"]["simulated_latency"]
    print(
        f"network {network[:12]} -> {new_network[:12]}: "
        f"simulated mean latency {before:.3f} -> {after:.3f}"
    )
    return {"network": new_network, "parent": network, "model": model, "plot": plot, **summary}


if __name__ == "__main__":
    soan_rewire()

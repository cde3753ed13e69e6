"""Keep the mediator network fast: rewire it under its current load, on a schedule."""

from __future__ import annotations

from prefect import flow
from prefect.runtime import flow_run

from dalrn_core.podp.canonical import digest_of
from tasks.anchor import anchor_dispute
from tasks.receipts import record_receipt
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
    """Load the live network, rewire it, store the new version, publish plot and metrics.

    Each step leaves a signed receipt; the run's chain is anchored with the next batch.
    """
    chain_id = f"soan-rewire-{flow_run.get_id() or 'local'}"
    network = current_network()
    model = latency_predictor()
    record_receipt(chain_id, "soan_load", outputs={"network": network, "model": model})
    result = rewire_network(network, model, iterations, seed, sim_jobs_per_node)
    record_receipt(chain_id, "soan_rewire", inputs={"network": network},
                   params={"iterations": iterations, "seed": seed, "sim_jobs_per_node": sim_jobs_per_node},
                   outputs={"edges": digest_of(result["edges"]), "history": digest_of(result["history"])})
    new_network = store_network(network, result["edges"], model, iterations)
    record_receipt(chain_id, "soan_store", outputs={"network": new_network, "parent": network})
    plot = publish_plot(new_network)
    summary = publish_metrics(network, new_network, result["history"])
    before, after = summary["before"]["simulated_latency"], summary["after"]["simulated_latency"]
    print(
        f"network {network[:12]} -> {new_network[:12]}: "
        f"simulated mean latency {before:.3f} -> {after:.3f}"
    )
    anchor = anchor_dispute(chain_id)
    return {"network": new_network, "parent": network, "model": model, "plot": plot,
            "receipts_chain": chain_id, "merkle_root": anchor.root, **summary}


if __name__ == "__main__":
    soan_rewire()

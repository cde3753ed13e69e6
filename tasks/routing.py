"""Routing: which mediator agent of the live network handles a dispute."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from dalrn_core.soan.network import solve
from dalrn_core.soan.predict import predict_latency
from dalrn_core.soan.routing import route_dispute
from dalrn_core.soan.store import load_current_network, load_predictor


@task(name="route", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 4])
def route_to_mediator(dispute_id: str) -> dict:
    """The agent for `dispute_id` on the current network, by the GCN's predicted latency.

    Before any predictor has been trained (the soan-rewire flow trains one) the exact
    Jackson-network latency is used instead, so routing never waits on training.
    """
    network = load_current_network()
    predictor = load_predictor()
    if predictor is not None:
        latency, basis = predict_latency(network.graph, network.state, predictor), "gcn"
    else:
        latency, basis = solve(network.graph, network.state).latency, "jackson_closed_form"
    agent = route_dispute(network.graph, network.state, dispute_id, latency=latency)
    return {"agent": int(agent), "network": network.hash, "basis": basis,
            "predicted_latency": float(latency[agent])}

"""route_on: the GCN's latency when a predictor exists, the Jackson closed form before."""

from __future__ import annotations

from dalrn_core.soan.network import solve
from dalrn_core.soan.predict import predict_latency
from dalrn_core.soan.routing import entry_agent, route_on, route_on_current_network
from dalrn_core.soan.store import load_current_network


def test_without_a_predictor_the_closed_form_decides():
    network = load_current_network()
    exact = solve(network.graph, network.state).latency
    for i in range(20):
        route = route_on(network, None, f"dispute-{i}")
        entry = entry_agent(f"dispute-{i}", network.state.n)
        options = [entry, *network.graph.neighbors(entry)]
        assert route.basis == "jackson_closed_form" and route.network == network.hash
        assert route.agent in options and route.predicted_latency == min(float(exact[a]) for a in options)
    assert route_on_current_network("dispute-0") == route_on(network, None, "dispute-0")


def test_with_a_predictor_the_gcn_decides(tiny_predictor):
    network = load_current_network()
    predicted = predict_latency(network.graph, network.state, tiny_predictor)
    route = route_on(network, tiny_predictor, "dispute-7")
    assert route.basis == "gcn" and route.predicted_latency == float(predicted[route.agent])
    assert route.receipt_fields()["params"] == {"network": network.hash}

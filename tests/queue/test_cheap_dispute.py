"""What a long-lived worker keeps between disputes gives the answers computing afresh gives."""

from __future__ import annotations

from dalrn_core.soan.network import skewed_state
from dalrn_core.soan.routing import route_on, route_on_current_network
from dalrn_core.soan.store import load_current_network, load_predictor, save_network
from dalrn_core.soan.topology import small_world


def test_routing_from_the_kept_latency_equals_routing_afresh_and_follows_a_rewire(data_home):
    ids = [f"dispute-{i}" for i in range(40)]
    kept = [route_on_current_network(d) for d in ids]
    assert kept == [route_on(load_current_network(), load_predictor(), d) for d in ids]
    graph = small_world(60, 4, 0.2, seed=7)  # a rewire stores a new current network
    save_network(graph, skewed_state(graph), meta={"origin": "test"})
    after = [route_on_current_network(d) for d in ids]
    assert {r.network for r in after} == {load_current_network().hash} != {r.network for r in kept}
    assert after == [route_on(load_current_network(), load_predictor(), d) for d in ids]

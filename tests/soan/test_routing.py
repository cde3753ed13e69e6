import pytest

from dalrn_core.errors import InputError
from dalrn_core.soan.predict import predict_latency
from dalrn_core.soan.routing import entry_agent, route_dispute
from dalrn_core.soan.store import default_network, load_current_network, save_network


def test_route_is_deterministic_and_a_neighbour_with_least_predicted_latency(tiny_predictor):
    g, s = default_network()
    latency = predict_latency(g, s, tiny_predictor)
    for i in range(50):
        dispute = f"dispute-{i}"
        agent = route_dispute(g, s, dispute, tiny_predictor)
        assert agent == route_dispute(g, s, dispute, tiny_predictor)
        entry = entry_agent(dispute, 100)
        options = [entry, *g.neighbors(entry)]
        assert agent in options
        assert latency[agent] == min(latency[a] for a in options)


def test_routing_steers_away_from_the_hotspot(tiny_predictor):
    g, s = default_network()
    latency = predict_latency(g, s, tiny_predictor)  # one batched pass, reused for 300 disputes
    agents = [route_dispute(g, s, f"d{i}", latency=latency) for i in range(300)]
    entries = [entry_agent(f"d{i}", 100) for i in range(300)]
    hot = set(range(10))
    assert sum(a in hot for a in agents) < 0.5 * sum(e in hot for e in entries)


def test_routing_follows_the_live_topology(tiny_predictor):
    current = load_current_network()
    g = current.graph.copy()
    entry = entry_agent("dispute-x", 100)
    for nbr in list(g.neighbors(entry)):
        g.remove_edge(entry, nbr)
    g.add_edge(entry, 50)  # now the only way out of the entry agent
    save_network(g, current.state, parent=current.hash)
    live = load_current_network()
    assert live.parent == current.hash
    assert route_dispute(live.graph, live.state, "dispute-x", tiny_predictor) in {entry, 50}


def test_empty_dispute_id_is_refused(tiny_predictor):
    g, s = default_network()
    with pytest.raises(InputError) as err:
        route_dispute(g, s, "", tiny_predictor)
    assert err.value.problems[0].field == "dispute_id"


@pytest.mark.slow
def test_first_route_on_a_fresh_folder_trains_and_stores_the_default_predictor(dalrn_home):
    g, s = default_network()
    agent = route_dispute(g, s, "dispute-1")
    assert 0 <= agent < 100
    assert (dalrn_home / "soan" / "models" / "latest").exists()
    assert route_dispute(g, s, "dispute-1") == agent  # the stored model answers the same

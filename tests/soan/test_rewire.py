"""Rewiring keeps the network connected, inside the degree bounds and the same size."""

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dalrn_core.errors import InputError
from dalrn_core.soan.network import skewed_state, solve
from dalrn_core.soan.rewire import RewireConfig, apply_move, bounds_hold, candidate_moves, rewire
from dalrn_core.soan.topology import small_world


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(8, 40),
    k=st.sampled_from([2, 4, 6]),
    p=st.floats(0, 1),
    seed=st.integers(0, 10_000),
    min_degree=st.integers(1, 3),
    slack=st.integers(0, 4),
)
def test_every_candidate_move_keeps_connectivity_and_bounds(n, k, p, seed, min_degree, slack):
    g = small_world(n, min(k, n - 2), p, seed=seed)
    degrees = [d for _, d in g.degree()]
    min_degree = min(min_degree, min(degrees))
    config = RewireConfig(min_degree=min_degree, max_degree=max(degrees) + slack)
    state = skewed_state(g, start=seed % n)
    latency = np.random.default_rng(seed).uniform(1, 10, n)
    for move in candidate_moves(g, state, latency, config):
        rewired = apply_move(g, move)
        assert bounds_hold(rewired, config.min_degree, config.max_degree)
        assert rewired.number_of_edges() == g.number_of_edges()
        assert move.drop[0] == move.add[0]  # the hot agent trades a link, it does not lose one


@pytest.mark.parametrize("seed", range(4))
def test_rewire_holds_invariants_every_iteration(seed, tiny_predictor):
    g = small_world(30, 4, 0.1, seed=seed)
    state = skewed_state(g, hot_fraction=0.2, start=seed)
    config = RewireConfig(iterations=6, min_degree=2, max_degree=7, sim_jobs_per_node=40, seed=seed)
    out, history = rewire(g, state, tiny_predictor, config)
    assert bounds_hold(out, 2, 7) and out.number_of_edges() == g.number_of_edges()
    assert len(history) == 6
    eps = [h.epsilon for h in history]
    assert eps == sorted(eps, reverse=True) and eps[-1] < eps[0]
    for h in history:
        if h.accepted:
            assert h.simulated_reward > 0  # only moves the simulation confirmed are kept
    assert g is not out or not any(h.accepted for h in history)


def test_rewire_lowers_latency_under_a_skewed_load(tiny_predictor):
    g = small_world(40, 4, 0.1, seed=3)
    state = skewed_state(g, hot_fraction=0.15, max_utilisation=0.9)
    out, history = rewire(
        g, state, tiny_predictor, RewireConfig(iterations=10, sim_jobs_per_node=60)
    )
    assert any(h.accepted for h in history)
    assert solve(out, state).mean_latency < 0.9 * solve(g, state).mean_latency


def test_bad_start_graph_is_refused(tiny_predictor):
    g = nx.path_graph(5)
    state = skewed_state(g)
    with pytest.raises(InputError) as err:
        rewire(g, state, tiny_predictor, RewireConfig(min_degree=2))
    assert err.value.problems[0].field == "graph"

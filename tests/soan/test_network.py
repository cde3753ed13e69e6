import math

import networkx as nx
import numpy as np
import pytest

from dalrn_core.errors import InputError
from dalrn_core.soan.network import NetworkState, routing_matrix, skewed_state, solve
from dalrn_core.soan.topology import small_world


def test_tandem_by_hand():
    # path 0-1: with f = 0.5 every departure of 0 goes to 1 (its only neighbour) half the
    # time and vice versa. Traffic: l0 = 1 + l1/2, l1 = 0.5 + l0/2 -> l0 = 5/3, l1 = 4/3.
    g = nx.path_graph(2)
    state = NetworkState(np.array([1.0, 0.5]), np.array([4.0, 2.0]), 0.5)
    s = solve(g, state)
    assert s.throughput == pytest.approx([5 / 3, 4 / 3])
    w = np.array([1 / (4 - 5 / 3), 1 / (2 - 4 / 3)])
    assert s.time_in_system == pytest.approx(w)
    # T0 = W0 + T1/2, T1 = W1 + T0/2
    t0 = (w[0] + w[1] / 2) / (1 - 0.25)
    assert s.latency[0] == pytest.approx(t0)
    assert s.latency[1] == pytest.approx(w[1] + t0 / 2)
    # Little's law over the whole network: mean latency = total jobs in system / total arrivals
    assert s.mean_latency == pytest.approx(s.mean_in_system.sum() / 1.5)


def test_routing_rows_sum_to_forward_prob_weighted_by_capacity():
    g = nx.star_graph(3)
    state = NetworkState(np.ones(4), np.array([1.0, 1.0, 2.0, 1.0]), 0.4)
    p = routing_matrix(g, state)
    assert p.sum(axis=1) == pytest.approx([0.4] * 4)
    assert p[0, 2] == pytest.approx(2 * p[0, 1])


def test_unstable_agent_makes_latency_infinite_without_error():
    g = nx.path_graph(3)
    s = solve(g, NetworkState(np.array([2.0, 0.1, 0.1]), np.ones(3), 0.5))
    assert not s.stable and math.isinf(s.mean_latency)
    assert np.isinf(s.latency).all()


def test_skewed_state_peaks_at_requested_utilisation():
    g = small_world()
    state = skewed_state(g, max_utilisation=0.85)
    s = solve(g, state)
    assert s.utilisation.max() == pytest.approx(0.85)
    assert state.arrival[:10].min() > 5 * state.arrival[10:].max()


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"arrival": [1.0, -1.0], "service": [1.0, 1.0]}, "arrival[1]"),
        ({"arrival": [1.0, float("nan")], "service": [1.0, 1.0]}, "arrival[1]"),
        ({"arrival": [1.0, 1.0], "service": [1.0, 0.0]}, "service[1]"),
        ({"arrival": [1.0], "service": [1.0, 1.0]}, "arrival"),
        ({"arrival": [1.0], "service": [1.0], "forward_prob": 1.0}, "forward_prob"),
    ],
)
def test_bad_state_names_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        NetworkState(**{k: np.array(v) if k != "forward_prob" else v for k, v in kwargs.items()})
    assert err.value.problems[0].field == field


def test_graph_must_match_state():
    with pytest.raises(InputError) as err:
        solve(nx.path_graph(3), NetworkState(np.ones(2), np.ones(2)))
    assert err.value.problems[0].field == "graph.nodes"

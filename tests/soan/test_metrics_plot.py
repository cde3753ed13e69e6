import math

import numpy as np
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from dalrn_core.soan.metrics import SoanMetrics
from dalrn_core.soan.network import NetworkState, skewed_state, solve
from dalrn_core.soan.plot import plot_current, render_network_png
from dalrn_core.soan.rewire import IterationMetrics
from dalrn_core.soan.simulation import simulate
from dalrn_core.soan.store import default_network
from dalrn_core.soan.topology import small_world

PNG = b"\x89PNG\r\n\x1a\n"


def test_per_agent_gauges_match_closed_forms_in_a_private_registry():
    g, s = default_network()
    closed = solve(g, s)
    m = SoanMetrics()
    m.observe_network(g, s)
    assert m.value("soan_agent_utilisation", {"agent": "3"}) == closed.utilisation[3]
    assert m.value("soan_agent_queue_length", {"agent": "3"}) == closed.mean_in_system[3]
    assert m.value("soan_agent_unstable", {"agent": "3"}) == 0.0
    assert REGISTRY.get_sample_value("soan_agent_utilisation", {"agent": "3"}) is None
    SoanMetrics().observe_network(g, s)  # a second exporter does not clash
    names = {f.name for f in text_string_to_metric_families(m.exposition().decode())}
    assert {"soan_agent_queue_length", "soan_agent_utilisation", "soan_agent_unstable"} <= names


def test_unstable_agent_is_flagged_and_simulation_feeds_gauges():
    g = small_world(10, 2, 0.0)
    arrival = np.full(10, 0.1)
    arrival[0] = 1.5
    s = NetworkState(arrival, np.ones(10), 0.3)
    m = SoanMetrics()
    m.observe_network(g, s)
    assert m.value("soan_agent_unstable", {"agent": "0"}) == 1.0
    assert m.value("soan_agent_queue_length", {"agent": "0"}) == math.inf
    stable = NetworkState(np.full(10, 0.3), np.ones(10), 0.3)
    r = simulate(g, stable, jobs=3000, seed=1)
    m.observe_network(g, stable, r)
    assert m.value("soan_agent_queue_length", {"agent": "4"}) == r.mean_in_system[4]
    assert m.value("soan_mean_latency", {"source": "simulation"}) == r.mean_latency


def test_iteration_counters():
    m = SoanMetrics()
    it = IterationMetrics(0, 0.3, False, 5, "(1, 2)", "(1, 7)", 0.1, 0.2, True, 3.0, 3.1, 0.8)
    m.observe_iteration(it)
    m.observe_iteration(IterationMetrics(1, 0.25, True, 5, "", "", 0.0, -0.1, False, 3.0, 3.1, 0.8))
    assert m.value("soan_rewire_iterations_total") == 2
    assert m.value("soan_rewire_accepted_total") == 1
    assert m.value("soan_rewire_epsilon") == 0.25


def test_png_is_written(tmp_path):
    g = small_world(30, 4, 0.1)
    path = render_network_png(g, skewed_state(g), tmp_path / "net.png")
    assert path.read_bytes().startswith(PNG)
    out = plot_current(tmp_path / "sub" / "current.png")
    assert out.exists() and out.read_bytes().startswith(PNG)

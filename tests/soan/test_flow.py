"""The soan_rewire flow end to end under a throwaway Prefect server."""

import networkx as nx
from prefect.artifacts import Artifact

from dalrn_core.soan.network import solve
from dalrn_core.soan.rewire import bounds_hold
from dalrn_core.soan.store import load_current_network, models_dir, save_predictor


def test_flow_rewires_stores_and_publishes(prefect_harness, tiny_predictor, dalrn_home):
    from flows.soan_rewire import soan_rewire

    model = save_predictor(tiny_predictor)
    start = load_current_network()
    result = soan_rewire(iterations=4, seed=1, sim_jobs_per_node=30)

    live = load_current_network()
    assert result["network"] == live.hash and live.parent == start.hash == result["parent"]
    assert result["model"] == model == (models_dir() / "latest").read_text()
    assert nx.is_connected(live.graph) and bounds_hold(live.graph, 2, 12)
    assert live.graph.number_of_edges() == start.graph.number_of_edges()
    assert result["after"]["closed_form_latency"] == solve(live.graph, live.state).mean_latency

    image = Artifact.get("soan-network")
    assert image is not None and image.data.startswith("data:image/png;base64,")
    table = Artifact.get("soan-rewire-metrics")
    assert table is not None and "simulated_reward" in table.data
    assert Artifact.get("soan-rewire-summary") is not None
    assert (dalrn_home / "soan" / "plots" / f"{live.hash}.png").exists()
    assert b"soan_agent_utilisation" in (dalrn_home / "soan" / "metrics.prom").read_bytes()

    from dalrn_core.podp.verify import verify_dispute

    # The run's steps left signed receipts, anchored with the batch, checkable like a dispute's.
    assert len(verify_dispute(result["receipts_chain"])) == 4


def test_report_compares_with_common_random_numbers():
    from dalrn_core.soan.report import compare, summary_markdown

    v = load_current_network()
    same = compare(v, v, jobs=3000)
    assert same["before"]["simulated_latency"] == same["after"]["simulated_latency"]
    assert same["simulated_reduction"] == 0.0
    assert summary_markdown(same).count(v.hash[:12]) == 2

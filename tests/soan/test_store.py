import networkx as nx
import numpy as np
import pytest

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.soan.store import load_current_network, load_network, networks_dir, save_network


def test_fresh_folder_gets_the_default_small_world(dalrn_home):
    v = load_current_network()
    assert v.graph.number_of_nodes() == 100 and nx.is_connected(v.graph)
    assert (dalrn_home / "soan" / "networks" / f"{v.hash}.json").exists()
    assert (networks_dir() / "current").read_text() == v.hash
    assert load_current_network().hash == v.hash  # stored once, then read


def test_versions_round_trip_and_chain():
    first = load_current_network()
    g = first.graph.copy()
    u, v = next(iter(g.edges()))
    g.remove_edge(u, v)
    g.add_edge(u, (u + 50) % 100)
    digest = save_network(g, first.state, parent=first.hash, meta={"iterations": 1})
    second = load_current_network()
    assert second.hash == digest != first.hash and second.parent == first.hash
    assert sorted(second.graph.edges()) == sorted(g.edges())
    assert np.array_equal(second.state.arrival, first.state.arrival)
    assert load_network(first.hash).hash == first.hash  # old versions stay readable


def test_tampered_version_is_refused():
    v = load_current_network()
    path = networks_dir() / f"{v.hash}.json"
    path.write_text(path.read_text().replace('"forward_prob":0.5', '"forward_prob":0.6'))
    with pytest.raises(IntegrityError):
        load_network(v.hash)


def test_unknown_hash_is_an_input_error():
    with pytest.raises(InputError):
        load_network("0" * 64)
    with pytest.raises(InputError):
        load_network("../../etc/passwd")

import networkx as nx
import pytest

from dalrn_core.errors import InputError
from dalrn_core.soan.topology import ring_lattice, small_world, small_world_properties


def test_default_small_world_is_connected_and_reproducible():
    g = small_world()
    assert g.number_of_nodes() == 100 and nx.is_connected(g)
    assert g.number_of_edges() == 100 * 6 // 2  # rewiring moves edges, never adds or drops
    assert sorted(g.edges()) == sorted(small_world(seed=0).edges())
    assert sorted(g.edges()) != sorted(small_world(seed=1).edges())


@pytest.mark.parametrize("seed", range(20))
def test_connected_even_when_rewiring_is_heavy(seed):
    assert nx.is_connected(small_world(30, 2, 0.9, seed=seed))


def test_small_world_properties_against_lattice_and_random():
    props = small_world_properties(small_world(), seed=0)
    # Watts-Strogatz 1998, Fig. 2: at p = 0.1 clustering stays close to the lattice's ...
    assert props.clustering > 0.6 * props.lattice_clustering
    assert props.clustering > 5 * props.random_clustering
    # ... while the path length has fallen most of the way to the random graph's
    assert props.path_length < 0.5 * props.lattice_path_length
    assert props.path_length < 1.5 * props.random_path_length
    assert props.sigma > 3


def test_lattice_reference_matches_the_closed_form_clustering():
    # ring lattice clustering 3(k-2) / (4(k-1)) (Barrat and Weigt 2000): k=6 gives 0.6
    assert nx.average_clustering(ring_lattice(100, 6)) == pytest.approx(0.6)
    # and average path about n / (2k) for n >> k
    assert nx.average_shortest_path_length(ring_lattice(100, 6)) == pytest.approx(8.83, abs=0.1)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"n": 2}, "n"),
        ({"k": 3}, "k"),
        ({"k": 100}, "k"),
        ({"p": 1.5}, "p"),
        ({"p": float("nan")}, "p"),
    ],
)
def test_bad_parameters_name_the_field(kwargs, field):
    with pytest.raises(InputError) as err:
        small_world(**kwargs)
    assert err.value.problems[0].field == field

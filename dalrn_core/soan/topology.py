"""Small-world topology of the mediator network and its defining properties.

Watts and Strogatz (1998), "Collective dynamics of 'small-world' networks", Nature 393:
start from a ring lattice where every node links to its k nearest neighbours, then rewire
each edge with probability p. For small p the graph keeps the lattice's high clustering
while its average shortest path drops to that of a random graph. `small_world` builds it
(always connected), `small_world_properties` measures both quantities against the two
references the paper uses: the ring lattice (p = 0) and a random graph of equal density.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from dalrn_core.errors import InputError

_MAX_TRIES = 100


def _check(n: int, k: int, p: float) -> None:
    if not isinstance(n, int) or n < 3:
        raise InputError.one("n", "must be an integer >= 3")
    if not isinstance(k, int) or k < 2 or k % 2 or k >= n:
        raise InputError.one("k", "must be an even integer with 2 <= k < n")
    if not (0.0 <= p <= 1.0):  # also rejects NaN
        raise InputError.one("p", "must be a probability in [0, 1]")


def small_world(n: int = 100, k: int = 6, p: float = 0.1, seed: int = 0) -> nx.Graph:
    """Connected Watts-Strogatz small world with nodes 0..n-1.

    Watts and Strogatz (1998). Rewiring may disconnect the graph; networkx's
    `connected_watts_strogatz_graph` retries with derived seeds until it is connected.

    Parameters
    ----------
    n : number of agents (>= 3).
    k : each node starts linked to its k nearest ring neighbours (even, < n).
    p : rewiring probability of each lattice edge.
    seed : makes the graph reproducible.

    Returns
    -------
    networkx.Graph, connected, with ``graph.graph`` holding ``n, k, p, seed``.
    """
    _check(n, k, p)
    graph = nx.connected_watts_strogatz_graph(n, k, p, tries=_MAX_TRIES, seed=seed)
    graph.graph.update({"n": n, "k": k, "p": p, "seed": seed, "kind": "watts_strogatz"})
    return graph


def ring_lattice(n: int = 100, k: int = 6) -> nx.Graph:
    """The regular ring lattice the small world starts from (Watts-Strogatz with p = 0)."""
    _check(n, k, 0.0)
    return nx.watts_strogatz_graph(n, k, 0.0)


def random_graph_like(graph: nx.Graph, seed: int = 0) -> nx.Graph:
    """A connected Erdos-Renyi G(n, m) graph with the same number of nodes and edges."""
    n, m = graph.number_of_nodes(), graph.number_of_edges()
    for attempt in range(_MAX_TRIES):
        candidate = nx.gnm_random_graph(n, m, seed=seed + attempt)
        if nx.is_connected(candidate):
            return candidate
    raise RuntimeError(f"no connected G({n}, {m}) in {_MAX_TRIES} tries; the graph is too sparse")


@dataclass(frozen=True)
class SmallWorldProperties:
    """Clustering coefficient C and average shortest path L of a graph and its references."""

    clustering: float
    path_length: float
    lattice_clustering: float
    lattice_path_length: float
    random_clustering: float
    random_path_length: float

    @property
    def sigma(self) -> float:
        """Humphries-Gurney small-world index (C/C_rand) / (L/L_rand); > 1 for small worlds."""
        return (self.clustering / self.random_clustering) / (
            self.path_length / self.random_path_length
        )

    def as_dict(self) -> dict[str, float]:
        return {**self.__dict__, "sigma": self.sigma}


def small_world_properties(
    graph: nx.Graph, k: int | None = None, seed: int = 0
) -> SmallWorldProperties:
    """Average clustering and average shortest path of `graph` against its two references.

    Parameters
    ----------
    graph : a connected graph.
    k : lattice degree of the reference ring; default the graph's mean degree rounded to even.
    seed : seed of the random reference graph.
    """
    if not nx.is_connected(graph):
        raise InputError.one("graph", "must be connected")
    n = graph.number_of_nodes()
    if k is None:
        mean_degree = 2 * graph.number_of_edges() / n
        k = max(2, round(mean_degree / 2) * 2)
    lattice = ring_lattice(n, k)
    rand = random_graph_like(graph, seed=seed)
    return SmallWorldProperties(
        clustering=nx.average_clustering(graph),
        path_length=nx.average_shortest_path_length(graph),
        lattice_clustering=nx.average_clustering(lattice),
        lattice_path_length=nx.average_shortest_path_length(lattice),
        random_clustering=nx.average_clustering(rand),
        random_path_length=nx.average_shortest_path_length(rand),
    )

"""Node features of the mediator network: load, service rate and structure.

Every feature is local to one agent (its own load and rates, its degree and clustering), so
a model that sees only these columns cannot know how much work its neighbours forward to
it; the GCN adds that by message passing over the graph. The linear baseline gets the very
same columns.
"""

from __future__ import annotations

import networkx as nx
import numpy as np

from dalrn_core.soan.network import NetworkState, check_graph

FEATURE_NAMES = (
    "arrival_rate",  # gamma_i, external disputes per unit time
    "service_rate",  # mu_i
    "offered_load",  # gamma_i / mu_i, the utilisation if nothing were forwarded to i
    "mean_service_time",  # 1 / mu_i
    "degree",
    "clustering",
    "forward_prob",  # f, the network-wide referral probability
)


def node_features(graph: nx.Graph, state: NetworkState) -> np.ndarray:
    """An (n, len(FEATURE_NAMES)) float32 matrix, row i for agent i."""
    check_graph(graph, state)
    n = state.n
    degree = np.array([graph.degree(i) for i in range(n)], dtype=float)
    clustering = nx.clustering(graph)
    clust = np.array([clustering[i] for i in range(n)], dtype=float)
    columns = [
        state.arrival,
        state.service,
        state.arrival / state.service,
        1.0 / state.service,
        degree,
        clust,
        np.full(n, state.forward_prob),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def edge_index(graph: nx.Graph) -> np.ndarray:
    """(2, 2|E|) int64 array with both directions of every undirected edge (PyG layout)."""
    edges = np.array(list(graph.edges()), dtype=np.int64).reshape(-1, 2)
    return np.concatenate([edges, edges[:, ::-1]], axis=0).T.copy()

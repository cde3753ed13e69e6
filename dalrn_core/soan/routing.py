"""Which agent handles a dispute: the live topology and predicted latency decide.

The dispute's id hashes (sha256) to an entry agent, so the same dispute always enters at
the same place; the dispute then goes to the entry agent or one of its neighbours, the one
with the lowest predicted latency (ties: the lower id). One hop keeps the choice local, as
a mediator can only hand a case to agents it is linked to.
"""

from __future__ import annotations

import hashlib

import networkx as nx
import numpy as np

from dalrn_core.errors import InputError
from dalrn_core.soan.gcn import Predictor
from dalrn_core.soan.network import NetworkState, check_graph
from dalrn_core.soan.predict import predict_latency


def entry_agent(dispute_id: str, n: int) -> int:
    """The agent a dispute enters at: its id's sha256 modulo the network size."""
    if not isinstance(dispute_id, str) or not dispute_id:
        raise InputError.one("dispute_id", "must be a non-empty string")
    return int.from_bytes(hashlib.sha256(dispute_id.encode()).digest()[:8], "big") % n


def route_dispute(
    graph: nx.Graph,
    state: NetworkState,
    dispute_id: str,
    predictor: Predictor | None = None,
    latency: np.ndarray | None = None,
) -> int:
    """The agent id that handles `dispute_id` (deterministic for a given network and model).

    Parameters
    ----------
    graph, state : the live network (see `store.load_current_network`).
    dispute_id : the dispute's identifier.
    predictor : the GCN to ask; default the latest stored one (trained and stored first,
        about 15 s, when the data folder has none).
    latency : precomputed predicted latency per agent, to route many disputes at once.
    """
    check_graph(graph, state)
    entry = entry_agent(dispute_id, state.n)
    if latency is None:
        latency = predict_latency(graph, state, predictor)
    candidates = sorted([entry, *graph.neighbors(entry)])
    return min(candidates, key=lambda a: (float(latency[a]), a))

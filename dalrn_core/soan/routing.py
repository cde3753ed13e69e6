"""Which agent handles a dispute: the live topology and predicted latency decide.

The dispute's id hashes (sha256) to an entry agent, so the same dispute always enters at
the same place; the dispute then goes to the entry agent or one of its neighbours, the one
with the lowest predicted latency (ties: the lower id). One hop keeps the choice local, as
a mediator can only hand a case to agents it is linked to.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any, Literal

import networkx as nx
import numpy as np
from pydantic import BaseModel, ConfigDict

from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError
from dalrn_core.soan.gcn import Predictor
from dalrn_core.soan.network import NetworkState, check_graph, solve
from dalrn_core.soan.predict import predict_latency
from dalrn_core.soan.store import (
    NetworkVersion,
    load_current_network,
    load_network,
    load_predictor,
    models_dir,
    networks_dir,
)


class MediatorRoute(BaseModel):
    """The agent that handles a dispute, on which network version, by which latency."""

    model_config = ConfigDict(frozen=True)

    agent: int
    network: str
    basis: Literal["gcn", "jackson_closed_form"]
    predicted_latency: float

    def receipt_fields(self) -> dict[str, dict[str, Any]]:
        return {"params": {"network": self.network}, "outputs": self.model_dump(mode="json")}


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
    return int(min(candidates, key=lambda a: (float(latency[a]), a)))


def _latency(network: NetworkVersion, predictor: Predictor | None
             ) -> tuple[np.ndarray, Literal["gcn", "jackson_closed_form"]]:
    """Predicted latency per agent: the GCN's when one is trained, else the exact Jackson latency."""
    if predictor is not None:
        return predict_latency(network.graph, network.state, predictor), "gcn"
    return solve(network.graph, network.state).latency, "jackson_closed_form"


def route_on(network: NetworkVersion, predictor: Predictor | None, dispute_id: str) -> MediatorRoute:
    """Route `dispute_id` on `network`, by the GCN's predicted latency when one is trained.

    Before any predictor exists (the soan-rewire flow trains one) the exact Jackson-network
    latency is used instead, so routing never waits on training.
    """
    latency, basis = _latency(network, predictor)
    agent = route_dispute(network.graph, network.state, dispute_id, latency=latency)
    return MediatorRoute(agent=int(agent), network=network.hash, basis=basis,
                         predicted_latency=float(latency[agent]))


def _pointer(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def route_on_current_network(dispute_id: str) -> MediatorRoute:
    """`route_on` the live network with the latest stored predictor (if any).

    The per-agent latency depends on the network version and the predictor only, both
    named by their digests: a long-lived dispute worker computes it once per pair and
    routes every later dispute from it (rewiring or training names a new pair).
    """
    network_id = _pointer(networks_dir() / "current")
    if network_id is None:
        network_id = load_current_network().hash  # a fresh data folder: the default network is stored
    predictor_id = _pointer(models_dir() / "latest")
    key = (str(sub_dir("soan")), network_id, predictor_id)
    with _CURRENT_LOCK:
        known = _CURRENT.get(key)
    if known is None:
        network = load_network(network_id)
        predictor = load_predictor(predictor_id) if predictor_id is not None else None
        latency, basis = _latency(network, predictor)
        known = (network, latency, basis)
        with _CURRENT_LOCK:
            _CURRENT[key] = known
            while len(_CURRENT) > 4:
                _CURRENT.pop(next(iter(_CURRENT)))
    network, latency, basis = known
    agent = route_dispute(network.graph, network.state, dispute_id, latency=latency)
    return MediatorRoute(agent=int(agent), network=network.hash, basis=basis,
                         predicted_latency=float(latency[agent]))


_CURRENT: dict[tuple[str, str, str | None], tuple[NetworkVersion, np.ndarray, Literal["gcn", "jackson_closed_form"]]] = {}
_CURRENT_LOCK = threading.Lock()

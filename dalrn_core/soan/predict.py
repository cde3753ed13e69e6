"""Latency per agent for a network state: the trained GCN, batched over graphs.

`predict_latency` uses a given predictor or the latest stored one (training and storing the
default one first, about 15 s, when the data folder holds none). `train_default` is the
small training pipeline the rewiring flow runs when no predictor is stored yet: simulate
networks, hold out networks by seed, train, score against the baselines, store by hash.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch

from dalrn_core.soan.dataset import build_dataset
from dalrn_core.soan.features import edge_index, node_features
from dalrn_core.soan.gcn import GCNTrainConfig, Predictor, evaluate, train_gcn
from dalrn_core.soan.network import NetworkState
from dalrn_core.soan.store import load_predictor, models_dir, save_predictor


def _resolve(predictor: Predictor | None) -> Predictor:
    return predictor if predictor is not None else ensure_predictor()[0]


def predict_latency(
    graph: nx.Graph, state: NetworkState, predictor: Predictor | None = None
) -> np.ndarray:
    """Predicted mean end-to-end latency of a dispute entering at each agent (index = id)."""
    return predict_latency_many([(graph, state)], predictor)[0]


def predict_latency_many(
    networks: list[tuple[nx.Graph, NetworkState]], predictor: Predictor | None = None
) -> list[np.ndarray]:
    """Batched inference: one forward pass over many (graph, state) pairs."""
    predictor = _resolve(predictor)
    return predictor.predict_many([(node_features(g, s), edge_index(g)) for g, s in networks])


def predicted_mean_latency(latency: np.ndarray, state: NetworkState) -> float:
    """Job-weighted mean: disputes enter at agent i in proportion to its arrival rate."""
    return float(state.arrival @ latency / state.arrival.sum())


def train_default(
    *,
    train_networks: int = 24,
    test_networks: int = 6,
    jobs_per_node: int = 200,
    config: GCNTrainConfig | None = None,
    n_range: tuple[int, int] = (40, 100),
    save: bool = True,
) -> tuple[Predictor, dict[str, float], str | None]:
    """Train on seeds 0..train-1, score on held-out seeds 10_000.., store by hash.

    Returns the predictor, its held-out MAPE table against the baselines, and its hash.
    """
    torch.set_num_threads(1)  # small model; leave the other cores to the rest of the system
    train = build_dataset(range(train_networks), n_range=n_range, jobs_per_node=jobs_per_node)
    test = build_dataset(
        range(10_000, 10_000 + test_networks), n_range=n_range, jobs_per_node=jobs_per_node * 3
    )
    predictor = train_gcn(train, config or GCNTrainConfig(hidden=16, epochs=250))
    scores = evaluate(predictor, train, test)
    digest = save_predictor(predictor, {"heldout_mape": scores}) if save else None
    return predictor, scores, digest


def ensure_predictor() -> tuple[Predictor, str]:
    """The latest stored predictor, training and storing the default one if none exists."""
    predictor = load_predictor()
    if predictor is None:
        predictor, _, _ = train_default()
    return predictor, (models_dir() / "latest").read_text().strip()

"""Training data for the latency predictor: simulated networks, split by network seed.

Each network seed draws a whole scenario (a small-world graph, service rates, a load with
one to three hotspots, a referral probability, a peak utilisation) and runs the
discrete-event simulation; the target of agent i is the simulated mean end-to-end latency
of disputes that enter at i. Splitting by seed keeps every node of a network on one side,
so held-out scores measure generalisation to unseen networks, not to unseen nodes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import networkx as nx
import numpy as np

from dalrn_core.errors import InputError
from dalrn_core.soan.features import edge_index, node_features
from dalrn_core.soan.network import NetworkState, scale_to_utilisation, solve
from dalrn_core.soan.simulation import simulate
from dalrn_core.soan.topology import small_world


@dataclass(frozen=True)
class Sample:
    """One simulated network: features, edges, targets and which targets are reliable."""

    seed: int
    x: np.ndarray  # (n, F) node features
    edge_index: np.ndarray  # (2, 2|E|)
    y: np.ndarray  # (n,) simulated latency per entry agent
    mask: np.ndarray  # (n,) True where enough jobs entered to trust y
    analytic: np.ndarray  # (n,) Jackson closed-form latency, for reporting only


def random_scenario(
    seed: int, n_range: tuple[int, int] = (40, 100)
) -> tuple[nx.Graph, NetworkState]:
    """A random but stable network scenario, fully determined by `seed`."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(n_range[0], n_range[1] + 1))
    k = int(rng.choice([4, 6, 8]))
    graph = small_world(n, min(k, n - 2 - (n % 2)), float(rng.uniform(0.02, 0.5)), seed=seed)
    service = rng.uniform(0.5, 2.0, size=n)
    arrival = rng.uniform(0.5, 1.0, size=n) * service
    for _ in range(int(rng.integers(1, 4))):  # hotspots: blocks of ring neighbours
        start, size = int(rng.integers(n)), int(rng.integers(2, max(3, n // 8)))
        arrival[(start + np.arange(size)) % n] *= rng.uniform(3.0, 15.0)
    state = NetworkState(arrival, service, float(rng.uniform(0.3, 0.7)))
    return graph, scale_to_utilisation(graph, state, float(rng.uniform(0.6, 0.9)))


def simulate_sample(
    graph: nx.Graph,
    state: NetworkState,
    seed: int,
    *,
    jobs_per_node: int = 200,
    min_count: int = 20,
) -> Sample:
    """Simulate one network and package it as a training sample."""
    result = simulate(graph, state, jobs=jobs_per_node * state.n, seed=seed)
    mask = result.latency_count >= min_count
    return Sample(
        seed=seed,
        x=node_features(graph, state),
        edge_index=edge_index(graph),
        y=np.nan_to_num(result.latency, nan=0.0).astype(np.float32),
        mask=mask,
        analytic=solve(graph, state).latency.astype(np.float32),
    )


def build_dataset(
    seeds: Iterable[int], *, n_range: tuple[int, int] = (40, 100), jobs_per_node: int = 200
) -> list[Sample]:
    """Simulate one sample per seed (a seed names a whole network)."""
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise InputError.one("seeds", "must be distinct: one network per seed")
    return [
        simulate_sample(*random_scenario(s, n_range), seed=s, jobs_per_node=jobs_per_node)
        for s in seeds
    ]


def split_by_seed(samples: list[Sample], test_seeds: Iterable[int]) -> tuple[list[Sample], list[Sample]]:
    """(train, test): a network goes to test exactly when its seed is in `test_seeds`."""
    held = {int(s) for s in test_seeds}
    train = [s for s in samples if s.seed not in held]
    test = [s for s in samples if s.seed in held]
    return train, test

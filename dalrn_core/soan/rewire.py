"""epsilon-greedy rewiring of the mediator network (a contextual bandit over edge moves).

Sutton and Barto (2018), "Reinforcement Learning", section 2.2-2.4: with probability
epsilon pick an arm at random (explore), otherwise the arm with the highest estimated
value (exploit); epsilon decays geometrically so the search settles. Here:

1. Arms: for each of the agents with the highest predicted latency u, drop the edge to its
   most loaded neighbour v and add an edge from u to an agent w chosen by feature
   similarity: the non-neighbours whose (standardised) features and predicted latency are
   most cosine-similar to those of the least-loaded agent. Moves that would break
   connectivity or the degree bounds are never arms.
2. Value estimate: the drop in job-weighted mean latency the GCN predicts (one batched
   forward pass over all arms).
3. Reward: the drop in mean latency measured by simulating the current and the rewired
   network with common random numbers (same seed). The move is kept only when the
   simulation confirms it (reward > 0).

Every iteration leaves a connected graph with the same number of edges and every degree
inside [min_degree, max_degree].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import networkx as nx
import numpy as np

from dalrn_core.errors import InputError
from dalrn_core.soan.features import node_features
from dalrn_core.soan.gcn import Predictor
from dalrn_core.soan.network import NetworkState, check_graph, solve
from dalrn_core.soan.predict import predict_latency_many, predicted_mean_latency
from dalrn_core.soan.simulation import simulate


@dataclass(frozen=True)
class RewireConfig:
    iterations: int = 20
    hot_agents: int = 6  # agents whose edges are candidates to move
    partners: int = 3  # similar agents tried as the new endpoint, per hot agent
    epsilon: float = 0.3
    epsilon_decay: float = 0.85
    epsilon_min: float = 0.02
    min_degree: int = 2
    max_degree: int = 12
    sim_jobs_per_node: int = 100
    seed: int = 0


@dataclass(frozen=True)
class Move:
    drop: tuple[int, int]
    add: tuple[int, int]


@dataclass(frozen=True)
class IterationMetrics:
    iteration: int
    epsilon: float
    explored: bool
    arms: int
    drop: str
    add: str
    predicted_reward: float
    simulated_reward: float
    accepted: bool
    predicted_mean_latency: float  # of the network kept after this iteration
    simulated_mean_latency: float  # of the network kept after this iteration (this seed)
    max_utilisation: float  # closed form, of the network kept

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def bounds_hold(graph: nx.Graph, min_degree: int, max_degree: int) -> bool:
    """Connected, and every degree within [min_degree, max_degree]."""
    degrees = [d for _, d in graph.degree()]
    return bool(nx.is_connected(graph)) and min(degrees) >= min_degree and max(degrees) <= max_degree


def apply_move(graph: nx.Graph, move: Move) -> nx.Graph:
    rewired = graph.copy()
    rewired.remove_edge(*move.drop)
    rewired.add_edge(*move.add)
    return rewired


def candidate_moves(
    graph: nx.Graph, state: NetworkState, latency: np.ndarray, config: RewireConfig
) -> list[Move]:
    """The arms of this iteration (see module docstring), all keeping the bounds."""
    z = np.column_stack([node_features(graph, state), np.log(latency)])
    z = (z - z.mean(axis=0)) / (z.std(axis=0) + 1e-9)
    coolest = int(np.argmin(latency))
    norms = np.linalg.norm(z, axis=1) * np.linalg.norm(z[coolest]) + 1e-12
    similarity = (z @ z[coolest]) / norms
    moves = []
    for u in (int(i) for i in np.argsort(-latency, kind="stable")[: config.hot_agents]):
        if graph.degree(u) <= config.min_degree:
            continue
        droppable = [v for v in graph.neighbors(u) if graph.degree(v) > config.min_degree]
        if not droppable:
            continue
        v = max(droppable, key=lambda a: (latency[a], -a))
        partners = [
            int(w)
            for w in np.argsort(-similarity, kind="stable")
            if w != u and not graph.has_edge(u, int(w)) and graph.degree(int(w)) < config.max_degree
        ]
        for w in partners[: config.partners]:
            move = Move((u, v), (u, w))
            if nx.is_connected(apply_move(graph, move)):
                moves.append(move)
    return moves


def rewire(
    graph: nx.Graph, state: NetworkState, predictor: Predictor, config: RewireConfig | None = None
) -> tuple[nx.Graph, list[IterationMetrics]]:
    """Run the epsilon-greedy bandit; returns the rewired graph and per-iteration metrics."""
    config = config or RewireConfig()
    check_graph(graph, state)
    if config.min_degree < 1 or config.max_degree < config.min_degree:
        raise InputError.one("config.max_degree", "must be >= min_degree >= 1")
    if not bounds_hold(graph, config.min_degree, config.max_degree):
        raise InputError.one("graph", "must be connected with degrees inside the bounds")
    rng = np.random.default_rng(config.seed)
    epsilon, history = config.epsilon, []
    rejected: set[Move] = set()  # moves the simulation refuted on the current graph
    jobs = config.sim_jobs_per_node * state.n
    for t in range(config.iterations):
        latency = predict_latency_many([(graph, state)], predictor)[0]
        current_pred = predicted_mean_latency(latency, state)
        moves = [m for m in candidate_moves(graph, state, latency, config) if m not in rejected]
        sim_seed = config.seed * 100_003 + t
        current_sim = simulate(graph, state, jobs=jobs, seed=sim_seed).mean_latency
        explored, move, predicted_reward, reward, accepted = False, None, 0.0, 0.0, False
        if moves:
            rewired = [apply_move(graph, m) for m in moves]
            preds = predict_latency_many([(g, state) for g in rewired], predictor)
            values = np.array([current_pred - predicted_mean_latency(p, state) for p in preds])
            explored = bool(rng.random() < epsilon)
            pick = int(rng.integers(len(moves))) if explored else int(np.argmax(values))
            move, predicted_reward = moves[pick], float(values[pick])
            candidate_sim = simulate(rewired[pick], state, jobs=jobs, seed=sim_seed).mean_latency
            reward = current_sim - candidate_sim
            accepted = reward > 0
            if accepted:
                graph, current_sim = rewired[pick], candidate_sim
                current_pred -= predicted_reward
                rejected.clear()
            else:
                rejected.add(move)
        history.append(
            IterationMetrics(
                iteration=t,
                epsilon=epsilon,
                explored=explored,
                arms=len(moves),
                drop=str(move.drop) if move else "",
                add=str(move.add) if move else "",
                predicted_reward=predicted_reward,
                simulated_reward=float(reward),
                accepted=accepted,
                predicted_mean_latency=current_pred,
                simulated_mean_latency=float(current_sim),
                max_utilisation=float(np.max(solve(graph, state).utilisation)),
            )
        )
        epsilon = max(config.epsilon_min, epsilon * config.epsilon_decay)
    return graph, history

"""The mediator network as an open Jackson network of M/M/1 agents.

Jackson (1957), "Networks of waiting lines", Operations Research 5(4). Disputes arrive at
agent i from outside at rate gamma_i. After service at i a job is forwarded, with
probability f, to one neighbour j of i (chosen in proportion to j's service rate, so
stronger agents take more referrals), otherwise it leaves. Jackson's theorem: with the
traffic equations

    lambda = gamma + P^T lambda,      P_ij = f * mu_j / sum_{k in N(i)} mu_k  (j in N(i))

every agent behaves as an independent M/M/1 queue at rate lambda_i in steady state, so
its mean time in system is W_i = 1 / (mu_i - lambda_i). The end-to-end latency of a job
that enters at i solves T = W + P T. The job-weighted mean latency is
sum_i gamma_i T_i / sum_i gamma_i.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from dalrn_core.errors import InputError
from dalrn_core.soan.queue import mm1


@dataclass(frozen=True)
class NetworkState:
    """Load on the network: external arrival and service rate per agent (index = node id)."""

    arrival: np.ndarray
    service: np.ndarray
    forward_prob: float = 0.5

    def __post_init__(self) -> None:
        arrival = np.asarray(self.arrival, dtype=float)
        service = np.asarray(self.service, dtype=float)
        if arrival.ndim != 1 or arrival.shape != service.shape:
            raise InputError.one("arrival", "must be a 1-d array the length of service")
        for name, values in (("arrival", arrival), ("service", service)):
            bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
            if bad.size:
                raise InputError.one(f"{name}[{bad[0]}]", "must be a finite number >= 0")
        zero = np.flatnonzero(service == 0)
        if zero.size:
            raise InputError.one(f"service[{zero[0]}]", "must be > 0")
        if not (0.0 <= self.forward_prob < 1.0):
            raise InputError.one("forward_prob", "must be in [0, 1)")
        object.__setattr__(self, "arrival", arrival)
        object.__setattr__(self, "service", service)

    @property
    def n(self) -> int:
        return int(self.arrival.size)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arrival": self.arrival.tolist(),
            "service": self.service.tolist(),
            "forward_prob": self.forward_prob,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkState:
        return cls(
            np.array(data["arrival"]), np.array(data["service"]), float(data["forward_prob"])
        )


def check_graph(graph: nx.Graph, state: NetworkState) -> None:
    """Nodes must be 0..n-1 with n the length of the state's arrays."""
    if sorted(graph.nodes) != list(range(state.n)):
        raise InputError.one("graph.nodes", f"must be exactly 0..{state.n - 1} to match the state")


def routing_matrix(graph: nx.Graph, state: NetworkState) -> np.ndarray:
    """P_ij: probability that a job finishing at i is forwarded to j (rows sum to f or 0)."""
    check_graph(graph, state)
    n = state.n
    p = np.zeros((n, n))
    for i in range(n):
        nbrs = np.fromiter(graph.neighbors(i), dtype=int)
        if nbrs.size:  # an isolated agent cannot forward, its jobs leave
            weights = state.service[nbrs]
            p[i, nbrs] = state.forward_prob * weights / weights.sum()
    return p


@dataclass(frozen=True)
class JacksonSolution:
    """Closed-form steady state of the network (inf where a queue is unstable)."""

    throughput: np.ndarray  # lambda_i, total arrival rate at agent i
    utilisation: np.ndarray  # rho_i = lambda_i / mu_i
    mean_in_system: np.ndarray  # L_i
    time_in_system: np.ndarray  # W_i per visit
    latency: np.ndarray  # T_i end to end, for jobs entering at i
    mean_latency: float  # job-weighted mean of T
    stable: bool = field(default=True)


def solve(graph: nx.Graph, state: NetworkState) -> JacksonSolution:
    """Solve the traffic equations and each agent's M/M/1 closed forms (Jackson 1957)."""
    p = routing_matrix(graph, state)
    n = state.n
    lam = np.linalg.solve(np.eye(n) - p.T, state.arrival)
    lam = np.maximum(lam, 0.0)  # round-off only; the solution is non-negative
    queues = [mm1(lam[i], state.service[i]) for i in range(n)]
    w = np.array([q.mean_time_in_system for q in queues])
    unstable = ~np.isfinite(w)
    latency = np.linalg.solve(np.eye(n) - p, np.where(unstable, 0.0, w))
    if unstable.any():
        # a job that can reach an unstable agent waits forever on average
        support = nx.DiGraph((int(i), int(j)) for i, j in zip(*np.nonzero(p)))
        support.add_nodes_from(range(n))
        doomed = set(np.flatnonzero(unstable).tolist())
        for u in list(doomed):
            doomed |= nx.ancestors(support, u)
        latency[list(doomed)] = math.inf
    total = state.arrival.sum()
    with np.errstate(invalid="ignore"):
        mean = float(state.arrival @ latency / total) if total > 0 else 0.0
    if unstable.any() and total > 0 and np.isnan(mean):
        mean = math.inf
    return JacksonSolution(
        throughput=lam,
        utilisation=lam / state.service,
        mean_in_system=np.array([q.mean_in_system for q in queues]),
        time_in_system=w,
        latency=latency,
        mean_latency=mean,
        stable=not unstable.any(),
    )


def scale_to_utilisation(
    graph: nx.Graph, state: NetworkState, max_utilisation: float
) -> NetworkState:
    """Scale every external arrival rate so the busiest agent sits at `max_utilisation`.

    Throughputs are linear in the arrival rates, so one solve gives the factor.
    """
    if not (0.0 < max_utilisation < 1.0):
        raise InputError.one("max_utilisation", "must be in (0, 1)")
    rho = solve(graph, state).utilisation
    top = float(rho.max())
    if top <= 0:
        return state
    return NetworkState(state.arrival * (max_utilisation / top), state.service, state.forward_prob)


def skewed_state(
    graph: nx.Graph,
    *,
    hot_fraction: float = 0.1,
    hot_ratio: float = 10.0,
    max_utilisation: float = 0.9,
    forward_prob: float = 0.5,
    start: int = 0,
) -> NetworkState:
    """A hotspot: a block of consecutive agents gets `hot_ratio` times the others' load.

    In a small world consecutive ids are ring neighbours, so the hot agents forward work to
    each other; this is the skewed load rewiring has to relieve. Service rates are 1.
    """
    n = graph.number_of_nodes()
    hot = max(1, round(hot_fraction * n))
    arrival = np.ones(n)
    arrival[(start + np.arange(hot)) % n] = hot_ratio
    state = NetworkState(arrival, np.ones(n), forward_prob)
    return scale_to_utilisation(graph, state, max_utilisation)

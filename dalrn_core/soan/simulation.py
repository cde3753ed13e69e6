"""Discrete-event simulation of the mediator network (jobs routed over the graph).

Next-event time advance (Law 2015, "Simulation Modeling and Analysis", ch. 1): the clock
jumps to the earlier of the next external arrival and the next service completion. Each
agent is a FIFO single-server queue with exponential service; a finished job is forwarded
to a neighbour with the routing probabilities of `network.routing_matrix`, else it leaves.

Statistics skip a warm-up (the first jobs, which meet an empty network). Because queues
are FIFO, a job's sojourn never depends on jobs that arrive after it, so stopping the
arrival stream after `jobs` arrivals and draining biases no per-job statistic; time
averages (utilisation, number in system) use the window from the first measured arrival
to the last arrival. The run is bounded by `max_events`.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import numpy.typing as npt

from dalrn_core.errors import InputError
from dalrn_core.soan.network import NetworkState, routing_matrix


@dataclass(frozen=True)
class SimulationResult:
    """Measured steady-state estimates; per-agent arrays are indexed by node id."""

    latency: np.ndarray  # mean end-to-end latency of measured jobs entering at i (nan if none)
    latency_count: np.ndarray  # how many measured jobs entered at i
    mean_latency: float  # mean end-to-end latency over all measured jobs
    time_in_system: np.ndarray  # mean time per visit at agent i (nan if never visited)
    visits: np.ndarray  # measured visits at agent i
    utilisation: np.ndarray  # fraction of the window agent i was busy
    mean_in_system: np.ndarray  # time-average number of jobs at agent i
    events: int
    truncated: bool  # stopped at max_events before every job finished


class _Pool:
    """Random numbers drawn in blocks: one numpy call per block instead of per event."""

    def __init__(self, draw: Callable[[int], npt.NDArray[np.float64]], block: int) -> None:
        self._draw, self._block = draw, block
        self._buf: list[float] = draw(block).tolist()
        self._i = 0

    def next(self) -> float:
        if self._i == len(self._buf):
            self._buf, self._i = self._draw(self._block).tolist(), 0
        value = self._buf[self._i]
        self._i += 1
        return value


def simulate(
    graph: nx.Graph,
    state: NetworkState,
    *,
    jobs: int = 20_000,
    warmup: float = 0.1,
    seed: int = 0,
    max_events: int | None = None,
) -> SimulationResult:
    """Simulate `jobs` external arrivals through the network and measure latencies.

    Parameters
    ----------
    graph, state : the network (nodes 0..n-1) and its load.
    jobs : number of external arrivals generated.
    warmup : fraction of the first jobs left out of every statistic.
    seed : seeds every random draw; equal seeds give common random numbers across networks.
    max_events : hard bound on processed events (default 20 x jobs / (1 - f)).
    """
    if not isinstance(jobs, int) or jobs < 1:
        raise InputError.one("jobs", "must be an integer >= 1")
    if not (0.0 <= warmup < 1.0):
        raise InputError.one("warmup", "must be in [0, 1)")
    total_rate = float(state.arrival.sum())
    if total_rate <= 0:
        raise InputError.one("state.arrival", "must have a positive sum")
    n, f = state.n, state.forward_prob
    p = routing_matrix(graph, state)
    nbrs = [np.flatnonzero(p[i]).tolist() for i in range(n)]
    cums = [np.cumsum(p[i, nbrs[i]]).tolist() for i in range(n)]
    if max_events is None:
        max_events = int(20 * jobs / (1.0 - f)) + 1000

    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / total_rate, size=jobs)).tolist()
    origin = rng.choice(n, size=jobs, p=state.arrival / total_rate).tolist()
    service_pool = _Pool(lambda k: rng.exponential(1.0, size=k), 8192)
    route_pool = _Pool(lambda k: rng.random(size=k), 8192)
    mu = state.service.tolist()
    first_measured = math.floor(warmup * jobs)

    queues: list[deque[tuple[int, float]]] = [deque() for _ in range(n)]  # (job, arrival)
    area, busy, last = [0.0] * n, [0.0] * n, [0.0] * n
    visit_sum, visits = [0.0] * n, [0] * n
    lat_sum, lat_count = [0.0] * n, [0] * n
    snapshots: dict[str, tuple[list[float], list[float], float]] = {}
    heap: list[tuple[float, int, int]] = []
    seq = events = k = 0
    truncated = False

    def touch(node: int, t: float) -> None:
        length = len(queues[node])
        if length:
            area[node] += length * (t - last[node])
            busy[node] += t - last[node]
        last[node] = t

    def snapshot(name: str, t: float) -> None:
        for node in range(n):
            touch(node, t)
        snapshots[name] = (area.copy(), busy.copy(), t)

    def join(job: int, node: int, t: float) -> None:
        nonlocal seq
        touch(node, t)
        queues[node].append((job, t))
        if len(queues[node]) == 1:  # idle server starts at once
            seq += 1
            heapq.heappush(heap, (t + service_pool.next() / mu[node], seq, node))

    while k < jobs or heap:
        if events >= max_events:
            truncated = True
            break
        events += 1
        if k < jobs and (not heap or arrivals[k] <= heap[0][0]):
            t = arrivals[k]
            if k == first_measured:
                snapshot("start", t)
            join(k, origin[k], t)
            k += 1
            if k == jobs:
                snapshot("end", t)
            continue
        t, _, node = heapq.heappop(heap)
        touch(node, t)
        job, t_in = queues[node].popleft()
        if queues[node]:
            seq += 1
            heapq.heappush(heap, (t + service_pool.next() / mu[node], seq, node))
        measured = job >= first_measured
        if measured:
            visit_sum[node] += t - t_in
            visits[node] += 1
        u = route_pool.next()
        if u < f and nbrs[node]:
            target = nbrs[node][min(bisect.bisect_right(cums[node], u), len(nbrs[node]) - 1)]
            join(job, target, t)
        elif measured:
            o = origin[job]
            lat_sum[o] += t - arrivals[job]
            lat_count[o] += 1

    if "end" not in snapshots:
        snapshot("end", t)
    a0, b0, t0 = snapshots["start"]
    a1, b1, t1 = snapshots["end"]
    window = max(t1 - t0, 1e-12)
    lat_count_arr = np.array(lat_count)
    visits_arr = np.array(visits)
    with np.errstate(invalid="ignore", divide="ignore"):
        latency = np.where(lat_count_arr > 0, np.array(lat_sum) / lat_count_arr, np.nan)
        per_visit = np.where(visits_arr > 0, np.array(visit_sum) / visits_arr, np.nan)
    done = int(lat_count_arr.sum())
    return SimulationResult(
        latency=latency,
        latency_count=lat_count_arr,
        mean_latency=float(np.sum(lat_sum) / done) if done else math.nan,
        time_in_system=per_visit,
        visits=visits_arr,
        utilisation=(np.array(b1) - np.array(b0)) / window,
        mean_in_system=(np.array(a1) - np.array(a0)) / window,
        events=events,
        truncated=truncated,
    )

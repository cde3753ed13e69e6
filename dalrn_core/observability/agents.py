"""The mediator agents' load as observed from the disputes actually routed to them.

The routing model predicts each agent's latency from the network's rates; this module keeps
what really happened beside it: how many disputes each agent holds now, the fraction of the
recent window it held at least one, and how long each took from routing to the run's end.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from dalrn_core.observability import metrics

WINDOW_S = 300.0  # utilisation is the busy fraction of the last five minutes


class AgentLoad:
    """Per-agent in-hand counts and busy intervals, kept in this process."""

    def __init__(self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s, self._clock = window_s, clock
        self._lock = threading.Lock()
        self._in_hand: dict[str, int] = {}
        self._busy_since: dict[str, float] = {}
        self._busy: dict[str, deque[tuple[float, float]]] = {}

    def routed(self, agent: int, predicted_latency: float, basis: str) -> None:
        """A dispute was routed to `agent`, whose model-predicted latency is `predicted_latency`."""
        key = str(agent)
        metrics.SOAN_ROUTED.labels(key).inc()
        metrics.SOAN_PREDICTED_LATENCY.labels(key, basis).set(predicted_latency)
        metrics.SOAN_OBSERVED_QUEUE_LENGTH.labels(key).inc()
        with self._lock:
            self._in_hand[key] = self._in_hand.get(key, 0) + 1
            self._busy_since.setdefault(key, self._clock())
            utilisation = self._utilisation(key)
        metrics.SOAN_OBSERVED_UTILISATION.labels(key).set(utilisation)

    def finished(self, agent: int, seconds: float | None) -> None:
        """A dispute routed to `agent` ended (resolved or failed) `seconds` after its routing."""
        key = str(agent)
        metrics.SOAN_OBSERVED_QUEUE_LENGTH.labels(key).dec()
        if seconds is not None:
            metrics.SOAN_OBSERVED_LATENCY.labels(key).observe(max(seconds, 0.0))
        with self._lock:
            self._in_hand[key] = max(self._in_hand.get(key, 1) - 1, 0)
            if self._in_hand[key] == 0 and key in self._busy_since:
                self._busy.setdefault(key, deque()).append((self._busy_since.pop(key), self._clock()))
            utilisation = self._utilisation(key)
        metrics.SOAN_OBSERVED_UTILISATION.labels(key).set(utilisation)

    def utilisation(self, agent: int) -> float:
        with self._lock:
            return self._utilisation(str(agent))

    def _utilisation(self, key: str) -> float:
        now = self._clock()
        start = now - self.window_s
        intervals = self._busy.setdefault(key, deque())
        while intervals and intervals[0][1] < start:
            intervals.popleft()
        busy = sum(min(end, now) - max(begin, start) for begin, end in intervals)
        if key in self._busy_since:
            busy += now - max(self._busy_since[key], start)
        return min(max(busy / self.window_s, 0.0), 1.0)


AGENTS = AgentLoad()  # this process's view; summed (queue length) or maxed (utilisation) across processes

"""Circuit breakers (pybreaker) around the dependencies DALRN can work without for a while.

The chain RPC, IPFS and Redis each have one breaker per process. After `FAIL_MAX`
consecutive failures of a dependency (connection refused, timeouts: `OSError` and the
chain's transient errors; never bad input) its breaker opens: calls fail at once with
`DependencyUnavailable` instead of waiting out a timeout each, for `RESET_S` seconds, then
one trial call decides. `DependencyUnavailable` is a `ConnectionError`, so every caller
that already treats an unreachable dependency as "later" degrades the same way: a dispute's
anchor stays pending for the next batch, a run's start is retried, a rate limit is not
enforced for a moment. Each breaker's state, failures and refused calls are metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pybreaker

from dalrn_core.observability import metrics

CHAIN, IPFS, REDIS = "chain", "ipfs", "redis"
FAIL_MAX = 3
RESET_S = 30.0
STATES = ("closed", "open", "half_open")

T = TypeVar("T")


class DependencyUnavailable(ConnectionError):
    """A dependency's breaker is open: the call was not attempted."""

    def __init__(self, dependency: str, retry_in_s: float) -> None:
        super().__init__(f"{dependency} is unavailable (circuit open after repeated failures); "
                         f"next try in about {retry_in_s:.0f} s")
        self.dependency = dependency


def _counts_as_failure(exc: BaseException) -> bool:
    from dalrn_core.chain.errors import transient_chain_error

    return isinstance(exc, OSError) or transient_chain_error(exc) or type(exc).__module__.startswith("redis")


class _Exported(pybreaker.CircuitBreakerListener):
    """Mirrors a breaker's state and failures into the metric catalogue."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        _export_state(cb, str(getattr(new_state, "name", new_state)))

    def failure(self, cb: pybreaker.CircuitBreaker, exc: BaseException) -> None:
        metrics.BREAKER_FAILURES.labels(str(cb.name)).inc()


def _export_state(cb: pybreaker.CircuitBreaker, state_name: str | None = None) -> None:
    current = (state_name or str(cb.current_state)).replace("-", "_")
    for state in STATES:
        metrics.BREAKER_STATE.labels(str(cb.name), state).set(1.0 if state == current else 0.0)


def _breaker(name: str) -> pybreaker.CircuitBreaker:
    cb = pybreaker.CircuitBreaker(fail_max=FAIL_MAX, reset_timeout=RESET_S, name=name, listeners=[_Exported()],
                                  exclude=[lambda exc: not _counts_as_failure(exc)],
                                  throw_new_error_on_trip=False)  # the tripping call raises its own error
    _export_state(cb)
    return cb


BREAKERS: dict[str, pybreaker.CircuitBreaker] = {name: _breaker(name) for name in (CHAIN, IPFS, REDIS)}


def guarded(dependency: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`call(*args, **kwargs)` through `dependency`'s breaker; `DependencyUnavailable` while open."""
    cb = BREAKERS[dependency]
    try:
        result: T = cb.call(call, *args, **kwargs)
    except pybreaker.CircuitBreakerError:
        metrics.BREAKER_REJECTED.labels(dependency).inc()
        raise DependencyUnavailable(dependency, RESET_S) from None
    return result


def states() -> dict[str, str]:
    """Each dependency's breaker state: ``closed``, ``open`` or ``half_open``."""
    return {name: str(cb.current_state).replace("-", "_") for name, cb in BREAKERS.items()}

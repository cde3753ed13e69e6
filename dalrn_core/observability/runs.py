"""One dispute run, observed: stage durations, outcome or failing stage, agent load.

`ObservedTrail` is the flow's `Trail` that also tells the agent-load tracker when a dispute
is routed; `observed_dispute_run` wraps the flow's function and, when the run returns or
raises, records what it did. Neither touches the run's result or its receipts.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
import typing
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from dalrn_core.errors import InputError
from dalrn_core.observability import metrics
from dalrn_core.observability.agents import AGENTS
from dalrn_core.observability.disputes import record_failure, record_resolution
from dalrn_core.podp.trail import S, Trail

# The stages of a dispute run in order; a failed run is labelled by the first one unfinished
# (the encrypted search counts as part of `precedents`, which it precedes when asked for).
STAGES = ("intake", "route", "embed", "precedents", "negotiate", "explain", "anchor")

_current: contextvars.ContextVar[ObservedTrail | None] = contextvars.ContextVar("dalrn_observed_trail", default=None)


class ObservedTrail(Trail):
    """A `Trail` whose `route` stage marks the chosen agent busy until the run ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.agent: int | None = None
        self.routed_at: float | None = None
        _current.set(self)

    def record(self, name: str, stage: S) -> S:
        recorded = super().record(name, stage)
        agent = getattr(stage, "agent", None)
        if name == "route" and isinstance(agent, int):
            self.agent, self.routed_at = agent, time.monotonic()
            AGENTS.routed(agent, float(getattr(stage, "predicted_latency", 0.0)), str(getattr(stage, "basis", "")))
        return recorded

    def unfinished_stage(self) -> str:
        return next((s for s in STAGES if s not in self.seconds), "end")

    def release_agent(self) -> None:
        if self.agent is not None:
            AGENTS.finished(self.agent, None if self.routed_at is None else time.monotonic() - self.routed_at)
            self.agent = None


P = ParamSpec("P")
R = TypeVar("R")


def observed_dispute_run(submitted_at: Callable[[], datetime | None]
                         ) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Wrap an async dispute flow function; `submitted_at()` says when its dispute was accepted."""

    def wrap(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def run(*args: P.args, **kwargs: P.kwargs) -> R:
            token = _current.set(None)
            metrics.DISPUTE_RUNS_IN_PROGRESS.inc()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                trail = _current.get()
                if trail is not None:
                    trail.release_agent()
                if isinstance(exc, Exception):  # a cancelled run (the process stopping) is no failure
                    record_failure(trail.unfinished_stage() if trail else "intake", isinstance(exc, InputError))
                raise
            finally:
                metrics.DISPUTE_RUNS_IN_PROGRESS.dec()
            trail = _current.get()
            if trail is not None:
                trail.release_agent()
            _current.reset(token)
            if isinstance(result, dict):
                record_resolution(result, _safe(submitted_at))
            return result

        # The wrapper lives in this module, so annotations written as strings (postponed
        # evaluation) are resolved against the flow's module now, for the orchestrator's
        # parameter validation to see real types.
        run.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
        run.__annotations__ = typing.get_type_hints(fn)
        return run

    return wrap


def _safe(clock: Callable[[], datetime | None]) -> datetime | None:
    try:
        return clock()
    except Exception:  # noqa: BLE001 - a missing timestamp must not fail a resolved run
        return None

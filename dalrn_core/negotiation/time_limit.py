"""All equilibria of a bimatrix game under a hard time limit.

Where the limit can bite, the search (`phases.run_phases`) runs in a child process that
streams each verified equilibrium back over a pipe as soon as it is found. At the deadline
the parent kills the child (SIGKILL), which stops it even inside native code (Qhull,
LAPACK), and keeps what was streamed. Because the phases run cheapest first, a timed-out run
still holds the pure equilibria and the Lemke-Howson equilibria (the cheaper fallback
method); if even those did not arrive, the parent computes the pure equilibria itself.

Small games (`Limits.in_process`: at most 7 strategies per player, a limit of at least 2 s)
and ``time_limit_s=None`` run the search in this process: their search is bounded and ends
well within the limit, and starting a process would cost more than the search itself.

The child starts with ``fork`` where available (milliseconds, inherits the imported
modules); set ``DALRN_SOLVER_START_METHOD=forkserver`` or ``spawn`` in a process where
forking is unsafe (for example one whose other threads hold locks).
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkContext, ForkServerContext, SpawnContext
from typing import Literal

from dalrn_core.negotiation.equilibrium import Equilibrium, EquilibriumKey, Verifier, merge
from dalrn_core.negotiation.phases import (
    COMPLETE_PHASES,
    PHASES,
    Event,
    Limits,
    PhaseEnd,
    pure_phase,
    run_phases,
)
from dalrn_core.negotiation.rational import ExactGame, FloatArray, exact_game
from dalrn_core.settings import setting


@dataclass(frozen=True)
class Enumeration:
    """The equilibria found and how: phases, timing, completeness and notes."""

    equilibria: tuple[Equilibrium, ...]
    phases: tuple[PhaseEnd, ...]
    timed_out: bool
    complete: bool
    exact: bool
    integer_payoffs: bool
    seconds: float
    notes: tuple[str, ...] = field(default=())

    @property
    def methods(self) -> tuple[str, ...]:
        """The phases that ran to their end."""
        return tuple(p.name for p in self.phases if p.status == "done")


# What the child sends: each event, then "end" once the last phase is over.
Message = Event | Literal["end"]


def _child(
    conn: Connection[Message, object],
    a: FloatArray,
    b: FloatArray,
    exact: ExactGame | None,
    limits: Limits,
) -> None:
    try:
        for event in run_phases(a, b, exact, limits):
            conn.send(event)
        conn.send("end")
    finally:
        conn.close()


def _context() -> ForkContext | ForkServerContext | SpawnContext:
    method: str | None = setting("solver_start_method")  # DALRN_SOLVER_START_METHOD (checked there)
    if not method:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    # One literal per branch, so the context's type (and its Process class) is known.
    if method == "fork":
        return multiprocessing.get_context("fork")
    if method == "forkserver":
        return multiprocessing.get_context("forkserver")
    if method == "spawn":
        return multiprocessing.get_context("spawn")
    raise ValueError(
        f"DALRN_SOLVER_START_METHOD must be fork, forkserver or spawn; got {method!r}"
    )


def _stream_with_limit(
    a: FloatArray,
    b: FloatArray,
    exact: ExactGame | None,
    limits: Limits,
    time_limit_s: float,
) -> tuple[list[Event], bool, str | None]:
    """Events from a child process until it ends or the deadline; (events, timed_out, crash)."""
    ctx = _context()
    receiver: Connection[object, Message]
    sender: Connection[Message, object]
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(sender, a, b, exact, limits), daemon=True)
    deadline = time.monotonic() + time_limit_s
    proc.start()
    sender.close()  # only the child writes; EOF then means the child is gone
    events: list[Event] = []
    timed_out, crash = False, None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            if not receiver.poll(remaining):
                continue
            try:
                message = receiver.recv()
            except EOFError:
                proc.join(1.0)
                crash = f"solver process ended without finishing (exit code {proc.exitcode})"
                break
            if message == "end":
                break
            events.append(message)
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5.0)
        receiver.close()
    return events, timed_out, crash


def enumerate_equilibria(
    a: FloatArray,
    b: FloatArray,
    *,
    time_limit_s: float | None = 5.0,
    limits: Limits | None = None,
) -> Enumeration:
    """Every extreme Nash equilibrium found within ``time_limit_s`` seconds.

    Parameters
    ----------
    a, b : numpy.ndarray
        Validated payoff matrices of the row and column player.
    time_limit_s : float or None
        Hard wall-clock limit of the search, enforced by a child process for games that
        `Limits.in_process` does not keep here; ``None`` runs in this process with no limit.
    limits : Limits
        Size gates of the exponential phases and of the in-process search.

    Returns
    -------
    Enumeration
        Equilibria de-duplicated and in canonical order (`Equilibrium.sort_key`).
    """
    limits = limits or Limits()
    started = time.perf_counter()
    exact = exact_game(a, b)
    notes: list[str] = []
    if exact is None:
        notes.append(
            "payoffs too long for exact integer arithmetic (magnitudes too far apart); equilibria verified in floating point on the normalised game (relative regret <= 1e-9)"
        )
    rows, cols = a.shape
    if time_limit_s is None or limits.in_process(rows, cols, time_limit_s):
        events, timed_out, crash = list(run_phases(a, b, exact, limits)), False, None
    else:
        events, timed_out, crash = _stream_with_limit(a, b, exact, limits, time_limit_s)
    found: dict[EquilibriumKey, Equilibrium] = {}
    phases: list[PhaseEnd] = []
    for event in events:
        if isinstance(event, PhaseEnd):
            phases.append(event)
        else:
            merge(found, event)
    ended = {p.name for p in phases}
    if "pure" not in ended:
        # Not even the first phase reported back: pure equilibria are O(mn), compute here.
        for eq in pure_phase(Verifier(a, b, exact), exact):
            if eq is not None:
                merge(found, eq)
        notes.append("pure equilibria computed in the parent process after the solver stopped")
    complete = any(p.name in COMPLETE_PHASES and p.status == "done" for p in phases)
    if timed_out:
        running = next((name for name in PHASES if name not in ended), "?")
        if complete:
            notes.append(
                f"time limit {time_limit_s:g} s reached during the cross-check phase '{running}'; "
                "vertex enumeration had finished, so the set of extreme equilibria is complete"
            )
        else:
            notes.append(
                f"time limit {time_limit_s:g} s reached during phase '{running}'; kept the "
                f"{len(found)} equilibria found before it (pure and Lemke-Howson run first): the set may be incomplete"
            )
    if crash:
        notes.append(crash)
    for p in phases:
        if p.status == "failed":
            notes.append(f"phase {p.name} failed: {p.detail}")
        if p.rejected:
            notes.append(
                f"phase {p.name}: {p.rejected} candidate(s) failed verification and were discarded"
            )
    return Enumeration(
        equilibria=tuple(sorted(found.values(), key=Equilibrium.sort_key)),
        phases=tuple(phases),
        timed_out=timed_out,
        complete=complete,
        exact=exact is not None,
        integer_payoffs=bool(exact and exact.integer),
        seconds=time.perf_counter() - started,
        notes=tuple(notes),
    )

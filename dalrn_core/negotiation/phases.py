"""The equilibrium search as a stream of phases, cheapest first.

Every phase yields verified `Equilibrium` records as it finds them, so a run stopped at its
time limit keeps everything found so far. Order and purpose:

1. ``algorithms.pure``: pure equilibria, exact (O(mn)).
2. ``algorithms.lemke_howson``: exact Lemke-Howson (`algorithms.lemke_howson`) from every one of the ``m + n``
   labels. Cheap, finds at least one equilibrium, not all: the fallback on timeout.
3. ``vertex_enumeration_exact``: all extreme equilibria in rational arithmetic
   (`algorithms.vertex_exact`), for games with at most ``Limits.exact_bases`` bases (up to 7x7).
4. ``vertex_enumeration``: all extreme equilibria from the Qhull vertices (`algorithms.vertex_float`;
   nashpy's own `vertex_enumeration` rebuilds one polytope per vertex of the other and
   took 10 s on an 8x8 game, so it is not used).
5. ``support_enumeration``: nashpy's support enumeration (Algorithm 3.4 of Nisan et al.
   2007) as an independent cross-check, for at most ``Limits.support_pairs`` support pairs.
   It misses equilibria of degenerate games; the union with 3-4 covers them.

Each raw candidate goes through `equilibrium.Verifier` (exact re-derivation or regret
check); rejected candidates are counted and reported, never returned.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from nashpy.algorithms.support_enumeration import support_enumeration

from dalrn_core.negotiation.algorithms.lemke_howson import PivotLimit, lemke_howson_exact
from dalrn_core.negotiation.algorithms.pure import pure_equilibria, unit
from dalrn_core.negotiation.algorithms.vertex_exact import count_bases, exact_vertex_enumeration
from dalrn_core.negotiation.algorithms.vertex_float import float_vertex_enumeration
from dalrn_core.negotiation.equilibrium import Equilibrium, Verifier
from dalrn_core.negotiation.rational import ExactGame, FloatArray, is_equilibrium_exact
from dalrn_core.redact import redacted_error

PHASES = (
    "pure",
    "lemke_howson",
    "vertex_enumeration_exact",
    "vertex_enumeration",
    "support_enumeration",
)
# Phases whose normal end proves the set of extreme equilibria complete.
COMPLETE_PHASES = ("vertex_enumeration_exact", "vertex_enumeration")


@dataclass(frozen=True)
class Limits:
    """Size gates for the exponential phases, and for searching without a child process.

    ``exact_bases`` and ``support_pairs`` cap the bases of exact vertex enumeration and the
    support pairs of support enumeration. A game with at most ``in_process_strategies``
    strategies per player is searched in the calling process when the time limit is at
    least ``in_process_min_limit_s``: every phase of such a game is bounded (at most
    C(14, 7) bases; the slowest 7x7 games measured took 0.4 s, most 5-50 ms), so a child
    process would cost more than the search. A shorter limit is still enforced by a child.
    """

    exact_bases: int = 3500
    support_pairs: int = 500
    in_process_strategies: int = 7
    in_process_min_limit_s: float = 2.0

    def in_process(self, m: int, n: int, time_limit_s: float | None) -> bool:
        """Whether an ``m x n`` game is searched in this process under ``time_limit_s``."""
        if time_limit_s is None:
            return True
        small = max(m, n) <= self.in_process_strategies
        return small and time_limit_s >= self.in_process_min_limit_s


@dataclass(frozen=True)
class PhaseEnd:
    """A phase finished (``done``), was not run (``skipped``) or raised (``failed``)."""

    name: str
    status: str
    detail: str
    seconds: float
    found: int = 0
    rejected: int = 0


Event = Equilibrium | PhaseEnd


def pure_phase(v: Verifier, exact: ExactGame | None) -> Iterator[Equilibrium | None]:
    """Pure equilibria as verified records (exact when the game has an exact form)."""
    m, n = v.m, v.n
    cells = pure_equilibria(exact.a, exact.b) if exact is not None else pure_equilibria(v.a, v.b)
    for i, j in cells:
        if exact is not None:
            x = [Fraction(int(k == i)) for k in range(m)]
            y = [Fraction(int(k == j)) for k in range(n)]
            yield v.from_exact(x, y, "pure")
        else:
            yield v.clean(unit(i, m), unit(j, n), "pure")


def _lemke_howson(v: Verifier, exact: ExactGame | None) -> Iterator[Equilibrium | None]:
    a_pos: Sequence[Sequence[int]]
    b_pos: Sequence[Sequence[int]]
    if exact is not None:
        a_pos, b_pos = exact.a_pos, exact.b_pos
    else:
        # The normalised float game scaled to 41-bit integers: a close exact game whose
        # equilibria are candidates, verified on the real game below.
        a_pos = [[round(val * 2**40) for val in row] for row in v.a_norm.tolist()]
        b_pos = [[round(val * 2**40) for val in row] for row in v.b_norm.tolist()]
    for label in range(v.m + v.n):
        try:
            x, y = lemke_howson_exact(a_pos, b_pos, label)
        except PivotLimit:
            yield None
            continue
        if exact is not None:
            yield (
                v.from_exact(x, y, "lemke_howson")
                if is_equilibrium_exact(exact.a_pos, exact.b_pos, x, y)
                else None
            )
        else:
            yield v.clean(
                np.array([float(p) for p in x]), np.array([float(q) for q in y]), "lemke_howson"
            )


def _exact_vertices(v: Verifier, exact: ExactGame) -> Iterator[Equilibrium | None]:
    for x, y in exact_vertex_enumeration(exact):
        # Correct by construction; the exact Nash test is cheap insurance.
        ok = is_equilibrium_exact(exact.a_pos, exact.b_pos, x, y)
        yield v.from_exact(x, y, "vertex_enumeration_exact") if ok else None


def _float_vertices(v: Verifier) -> Iterator[Equilibrium | None]:
    for x, y in float_vertex_enumeration(v.a_norm, v.b_norm):
        yield v.clean(x, y, "vertex_enumeration")


def _support(v: Verifier) -> Iterator[Equilibrium | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, y in support_enumeration(v.a_norm, v.b_norm, non_degenerate=False):
            yield v.clean(x, y, "support_enumeration")


def run_phases(
    a: FloatArray, b: FloatArray, exact: ExactGame | None, limits: Limits | None = None
) -> Iterator[Event]:
    """Yield verified equilibria and one `PhaseEnd` per phase, in `PHASES` order.

    Parameters
    ----------
    a, b : numpy.ndarray
        Validated payoff matrices.
    exact : ExactGame or None
        The exact game, when the payoffs have one (`rational.exact_game`).
    limits : Limits
        Size gates for the exponential phases.
    """
    limits = limits or Limits()
    v = Verifier(a, b, exact)
    m, n = a.shape
    bases = count_bases(m, n)
    pairs = math.comb(m + n, m)
    plan = {
        "pure": (lambda: pure_phase(v, exact), None),
        "lemke_howson": (lambda: _lemke_howson(v, exact), None),
        "vertex_enumeration_exact": (
            (lambda: _exact_vertices(v, exact)) if exact is not None else None,
            "payoffs have no compact exact form"
            if exact is None
            else (
                f"{bases} bases > limit {limits.exact_bases}"
                if bases > limits.exact_bases
                else None
            ),
        ),
        "vertex_enumeration": (lambda: _float_vertices(v), None),
        "support_enumeration": (
            lambda: _support(v),
            f"{pairs} support pairs > limit {limits.support_pairs}"
            if pairs > limits.support_pairs
            else None,
        ),
    }
    for name in PHASES:
        make, skip = plan[name]
        if skip is not None or make is None:
            yield PhaseEnd(name, "skipped", skip or "not applicable", 0.0)
            continue
        started = time.perf_counter()
        found = rejected = 0
        try:
            for eq in make():
                if eq is None:
                    rejected += 1
                    continue
                found += 1
                yield eq
        except Exception as exc:  # noqa: BLE001 - reported in the result; other phases go on
            yield PhaseEnd(
                name,
                "failed",
                redacted_error(exc, limit=300),
                time.perf_counter() - started,
                found,
                rejected,
            )
            continue
        yield PhaseEnd(name, "done", "", time.perf_counter() - started, found, rejected)

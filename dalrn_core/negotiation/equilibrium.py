"""The `Equilibrium` record and the verifier every solver's output passes through.

No algorithm's output is trusted as is. A candidate ``(x, y)`` from any method is rebuilt
from its labels: the strategies it leaves unplayed and the opponent's best responses fix a
vertex of each best-response polytope, which is solved again in exact rational arithmetic
(`rational.solve_unique`). The rebuilt pair must pass the exact Nash test, and it is an
*extreme* equilibrium because both halves are polytope vertices (Avis, Rosenberg, Savani and
von Stengel 2010, "Enumeration of Nash equilibria for two-player games", Economic Theory
42). A near-singular or mislabelled candidate is thus retried exactly rather than returned;
if the vertex system is not unique, a rational rounding is tried and kept only if it passes
the exact test (flagged ``extreme=False``). Games too large for exact arithmetic are checked
in floating point on the normalised game (regret at most `FLOAT_REGRET_TOL`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from dalrn_core.negotiation.rational import (
    ExactGame,
    FloatArray,
    is_equilibrium_exact,
    mat_vec,
    max_regret,
    normalised_float,
    solve_unique,
    vec_mat,
)

LABEL_TOL = 1e-7  # on probabilities and on normalised payoffs in [1, 2]
# Tighter tolerances tried in turn when the labels read at LABEL_TOL give no exact vertex
# pair (near-ties closer than 1e-7 in the normalised game).
RETRY_TOLS = (LABEL_TOL, 1e-10, 1e-13)
SAME_TOL = 1e-9  # two profiles this close (max norm) are one equilibrium
FLOAT_REGRET_TOL = 1e-9

# Identity of an equilibrium (`Equilibrium.key`): exact strategies, or rounded floats.
EquilibriumKey = tuple[tuple[Fraction | float, ...], tuple[Fraction | float, ...]]


@dataclass(frozen=True)
class Equilibrium:
    """One Nash equilibrium ``(row_strategy, col_strategy)`` with its payoffs.

    The ``*_exact`` fields hold `Fraction` values when the game has an exact form (integer
    or decimal payoffs); ``extreme`` is True when the profile is a vertex pair of the
    best-response polytopes; ``found_by`` lists the methods that produced it.
    """

    row_strategy: tuple[float, ...]
    col_strategy: tuple[float, ...]
    payoffs: tuple[float, float]
    row_strategy_exact: tuple[Fraction, ...] | None = None
    col_strategy_exact: tuple[Fraction, ...] | None = None
    payoffs_exact: tuple[Fraction, Fraction] | None = None
    extreme: bool = True
    max_regret: float = 0.0
    found_by: tuple[str, ...] = field(default=())

    @property
    def pure(self) -> bool:
        return self.support_size == 2

    @property
    def support_size(self) -> int:
        return sum(p > 0 for p in self.row_strategy) + sum(q > 0 for q in self.col_strategy)

    def key(self) -> EquilibriumKey:
        """Identity for de-duplication: exact strategies, or floats rounded to 1e-9."""
        if self.row_strategy_exact is not None and self.col_strategy_exact is not None:
            return (self.row_strategy_exact, self.col_strategy_exact)
        return (
            tuple(round(p, 9) for p in self.row_strategy),
            tuple(round(q, 9) for q in self.col_strategy),
        )

    def sort_key(self) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
        """Canonical order: pure first, then most weight on early strategies."""
        return (
            self.support_size,
            tuple(-p for p in self.row_strategy),
            tuple(-q for q in self.col_strategy),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "row_strategy": [float(p) for p in self.row_strategy],
            "col_strategy": [float(q) for q in self.col_strategy],
            "payoffs": [float(v) for v in self.payoffs],
            "extreme": self.extreme,
            "found_by": list(self.found_by),
        }
        if self.row_strategy_exact is not None and self.col_strategy_exact is not None:
            out["row_strategy_exact"] = [str(p) for p in self.row_strategy_exact]
            out["col_strategy_exact"] = [str(q) for q in self.col_strategy_exact]
        if self.payoffs_exact is not None:
            out["payoffs_exact"] = [str(v) for v in self.payoffs_exact]
        return out


def merge(found: dict[EquilibriumKey, Equilibrium], eq: Equilibrium) -> bool:
    """Add ``eq`` to ``found`` (keyed by `Equilibrium.key`); True if it was new."""
    key = eq.key()
    old = found.get(key)
    if old is None:
        found[key] = eq
        return True
    methods = tuple(sorted(set(old.found_by) | set(eq.found_by)))
    found[key] = replace(old, found_by=methods, extreme=old.extreme or eq.extreme)
    return False


class Verifier:
    """Turns raw candidate profiles of one game into verified `Equilibrium` records."""

    def __init__(self, a: FloatArray, b: FloatArray, exact: ExactGame | None) -> None:
        self.a, self.b, self.exact = a, b, exact
        self.a_norm, self.b_norm = normalised_float(a), normalised_float(b)
        self.m, self.n = a.shape
        # Verified profiles as one float row each: a later candidate within SAME_TOL of one
        # of them is that equilibrium again, found by another method, and is not re-solved.
        self._known: list[Equilibrium] = []
        self._known_rows = np.empty((0, self.m + self.n))

    def _remember(self, eq: Equilibrium | None) -> Equilibrium | None:
        if eq is not None:
            self._known.append(eq)
            row = np.array(eq.row_strategy + eq.col_strategy)[None, :]
            self._known_rows = np.vstack([self._known_rows, row])
        return eq

    def _recall(self, x: FloatArray, y: FloatArray, method: str) -> Equilibrium | None:
        if not self._known:
            return None
        dist = np.abs(self._known_rows - np.concatenate([x, y])[None, :]).max(axis=1)
        k = int(np.argmin(dist))
        return replace(self._known[k], found_by=(method,)) if dist[k] <= SAME_TOL else None

    def from_exact(
        self, x: Sequence[Fraction], y: Sequence[Fraction], method: str, extreme: bool = True
    ) -> Equilibrium:
        """Record an exactly verified profile (probability vectors of Fractions)."""
        assert self.exact is not None
        u_row = sum((p * v for p, v in zip(x, mat_vec(self.exact.a, y))), Fraction(0))
        u_col = sum((v * q for v, q in zip(vec_mat(x, self.exact.b), y)), Fraction(0))
        eq = Equilibrium(
            row_strategy=tuple(float(p) for p in x),
            col_strategy=tuple(float(q) for q in y),
            payoffs=(float(u_row), float(u_col)),
            row_strategy_exact=tuple(x),
            col_strategy_exact=tuple(y),
            payoffs_exact=(u_row, u_col),
            extreme=extreme,
            found_by=(method,),
        )
        self._remember(eq)
        return eq

    def clean(self, x: FloatArray, y: FloatArray, method: str) -> Equilibrium | None:
        """A verified equilibrium near the candidate ``(x, y)``, or ``None`` if it is not one."""
        x = np.asarray(x, dtype=float).ravel()
        y = np.asarray(y, dtype=float).ravel()
        if (
            x.shape != (self.m,)
            or y.shape != (self.n,)
            or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)))
        ):
            return None
        if x.sum() <= 0 or y.sum() <= 0:
            return None
        x, y = x / x.sum(), y / y.sum()
        known = self._recall(x, y, method)
        if known is not None:
            return known
        if self.exact is not None:
            return self._clean_exact(x, y, method)  # remembered by from_exact
        return self._remember(self._clean_float(x, y, method))

    # exact path ------------------------------------------------------------------------
    def _vertex(
        self, z: FloatArray, values: FloatArray, pos: Sequence[Sequence[int]], tol: float
    ) -> list[Fraction] | None:
        """Exact vertex of {z >= 0, pos z <= 1} with the labels read off a float ``z``.

        Labels: coordinates at most ``tol`` and opponent payoffs within ``tol`` of the best.
        """
        dim = len(z)
        zero = [k for k in range(dim) if z[k] <= tol]
        tight = [r for r in range(len(values)) if values[r] >= values.max() - tol]
        rows = [[1 if c == k else 0 for c in range(dim)] for k in zero] + [
            list(pos[r]) for r in tight
        ]
        rhs = [0] * len(zero) + [1] * len(tight)
        zbar = solve_unique(rows, rhs, dim)
        if zbar is None or any(v < 0 for v in zbar) or sum(zbar) <= 0:
            return None
        if any(v > 1 for v in mat_vec(pos, zbar)):
            return None
        total = sum(zbar)
        return [v / total for v in zbar]

    def _clean_exact(self, x: FloatArray, y: FloatArray, method: str) -> Equilibrium | None:
        ex = self.exact
        assert ex is not None
        b_pos_t = [list(col) for col in zip(*ex.b_pos)]  # one row per column strategy
        for tol in RETRY_TOLS:
            xe = self._vertex(x, x @ self.b_norm, b_pos_t, tol)
            ye = self._vertex(y, self.a_norm @ y, ex.a_pos, tol)
            if (
                xe is not None
                and ye is not None
                and is_equilibrium_exact(ex.a_pos, ex.b_pos, xe, ye)
            ):
                return self.from_exact(xe, ye, method, extreme=True)
        # Not a vertex pair under these labels: try the nearest simple rationals exactly.
        xr = _rational(x)
        yr = _rational(y)
        if is_equilibrium_exact(ex.a_pos, ex.b_pos, xr, yr):
            return self.from_exact(xr, yr, method, extreme=False)
        return None

    # float path ------------------------------------------------------------------------
    def _clean_float(self, x: FloatArray, y: FloatArray, method: str) -> Equilibrium | None:
        x = np.where(x <= 1e-12, 0.0, x)
        y = np.where(y <= 1e-12, 0.0, y)
        x, y = x / x.sum(), y / y.sum()
        regret = max_regret(self.a_norm, self.b_norm, x, y)
        if regret > FLOAT_REGRET_TOL:
            return None
        extreme = _float_vertex(x, x @ self.b_norm, self.b_norm.T) and _float_vertex(
            y, self.a_norm @ y, self.a_norm
        )
        payoffs = (float(x @ self.a @ y), float(x @ self.b @ y))
        return Equilibrium(
            row_strategy=tuple(float(p) for p in x),
            col_strategy=tuple(float(q) for q in y),
            payoffs=payoffs,
            extreme=extreme,
            max_regret=regret,
            found_by=(method,),
        )


def _rational(z: FloatArray, max_denominator: int = 10**6) -> list[Fraction]:
    r = [Fraction(float(v)).limit_denominator(max_denominator) for v in z]
    r = [max(v, Fraction(0)) for v in r]
    total = sum(r)
    return [v / total for v in r] if total > 0 else r


def _float_vertex(z: FloatArray, values: FloatArray, constraints: FloatArray) -> bool:
    """Whether the constraints tight at ``z`` have full rank, i.e. ``z`` scaled is a vertex.

    ``constraints`` has one row per opponent strategy (``values = constraints @ z``); tight
    are the zero coordinates of ``z`` and the rows reaching the maximum value.
    """
    dim = len(z)
    rows = [np.eye(dim)[k] for k in range(dim) if z[k] <= LABEL_TOL]
    rows += [constraints[r] for r in range(len(values)) if values[r] >= values.max() - LABEL_TOL]
    return len(rows) >= dim and int(np.linalg.matrix_rank(np.array(rows), tol=1e-9)) >= dim

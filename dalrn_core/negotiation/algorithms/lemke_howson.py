"""Lemke-Howson with exact integer pivoting and the lexicographic ratio test.

Algorithm: Lemke and Howson (1964), in the tableau form of von Stengel (2007, "Equilibrium
computation for two-player games in strategic and extensive form", Algorithmic Game Theory
ch. 3, sections 3.5-3.7), with integer (fraction-free, Bareiss) pivoting and the
lexicographic minimum-ratio test so degenerate games cannot make it cycle.

1. Tableaux B'^T x + s = 1 and r + A' y = 1 with the slacks as the first basis.
2. Let the variable with the dropped label enter its tableau.
3. The variable leaving one tableau names the label that enters the other.
4. Stop when the dropped label leaves: the pair is completely labelled, an equilibrium.

Python integers never overflow and the arithmetic is exact, so a path can be long but never
wrong; ``max_pivots`` bounds it (Lemke-Howson paths can be exponentially long, Savani and
von Stengel 2006). nashpy's float implementation cycled on a 6x6 integer game in testing.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction


class PivotLimit(RuntimeError):
    """The path did not end within the pivot budget."""


class _Tableau:
    """Integer tableau: row k reads ``sum T[k][v] z_v = T[k][-1]`` for the basic ``basis[k]``."""

    def __init__(self, rows: list[list[int]], basis: list[int], lex_cols: range) -> None:
        self.rows, self.basis, self.lex_cols = rows, basis, lex_cols
        self.det = 1

    def _less(self, k1: int, k2: int, col: int) -> bool:
        """Lexicographic ratio test: is row ``k1`` before row ``k2`` for entering ``col``?

        Compares ``row[c] / row[col]`` for the RHS, then the columns of the initial basis,
        by cross-multiplication (both pivots are positive), so no fractions are built.
        """
        r1, r2 = self.rows[k1], self.rows[k2]
        columns: list[int] = [len(r1) - 1, *self.lex_cols]
        for c in columns:
            left, right = r1[c] * r2[col], r2[c] * r1[col]
            if left != right:
                return left < right
        return False  # identical rows cannot both be in a non-singular basis

    def pivot(self, col: int) -> int:
        """Bring variable ``col`` into the basis; return the variable that leaves."""
        candidates = [k for k, row in enumerate(self.rows) if row[col] > 0]
        if not candidates:
            raise ArithmeticError("unbounded pivot column; payoffs must be positive")
        r = candidates[0]
        for k in candidates[1:]:
            if self._less(k, r, col):
                r = k
        prow = self.rows[r]
        piv = prow[col]
        for k, row in enumerate(self.rows):
            if k != r:
                factor = row[col]
                self.rows[k] = [(v * piv - factor * p) // self.det for v, p in zip(row, prow)]
        self.det = piv
        leaving, self.basis[r] = self.basis[r], col
        return leaving

    def values(self, variables: range) -> list[Fraction]:
        out = {v: Fraction(0) for v in variables}
        for k, v in enumerate(self.basis):
            if v in out:
                out[v] = Fraction(self.rows[k][-1], self.rows[k][v])
        return [out[v] for v in variables]


def lemke_howson_exact(
    a_pos: Sequence[Sequence[int]],
    b_pos: Sequence[Sequence[int]],
    dropped_label: int,
    max_pivots: int = 10_000,
) -> tuple[list[Fraction], list[Fraction]]:
    """One equilibrium, reached from the artificial one by dropping ``dropped_label``.

    Parameters
    ----------
    a_pos, b_pos : sequence of sequence of int
        Positive integer payoffs (row and column player), shape ``(m, n)``.
    dropped_label : int
        ``0..m-1`` a row strategy, ``m..m+n-1`` a column strategy.
    max_pivots : int
        Budget; `PivotLimit` is raised when it runs out.

    Returns
    -------
    tuple of list of Fraction
        Normalised mixed strategies ``(x, y)``.
    """
    m, n = len(a_pos), len(a_pos[0])
    if not 0 <= dropped_label < m + n:
        raise ValueError(f"label must be in 0..{m + n - 1}")
    # Variable index == label: P has x_i (label i) and s_j (label m + j); Q has r_i, y_j.
    p = _Tableau(
        [
            [int(b_pos[i][j]) for i in range(m)] + [int(k == j) for k in range(n)] + [1]
            for j in range(n)
        ],
        [m + j for j in range(n)],
        range(m, m + n),
    )
    q = _Tableau(
        [[int(k == i) for k in range(m)] + [int(v) for v in a_pos[i]] + [1] for i in range(m)],
        list(range(m)),
        range(m),
    )
    tableau = p if dropped_label < m else q
    entering = dropped_label
    for _ in range(max_pivots):
        leaving = tableau.pivot(entering)
        if leaving == dropped_label:
            break
        entering = leaving
        tableau = q if tableau is p else p
    else:
        raise PivotLimit(f"no equilibrium within {max_pivots} pivots from label {dropped_label}")
    x = p.values(range(m))
    y = q.values(range(m, m + n))
    sx, sy = sum(x), sum(y)
    return [v / sx for v in x], [v / sy for v in y]

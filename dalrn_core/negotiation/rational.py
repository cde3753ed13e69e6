"""Exact rational view of a bimatrix game and exact linear algebra over `Fraction`.

Each payoff is read as the decimal it was written as (its shortest float representation:
``0.1`` is 1/10, not the binary float nearest to it), so integer and decimal payoffs have an
exact game. Equilibria do not change under a positive affine map of one player's payoffs,
so each player's matrix is mapped to positive integers (``(A - min A) * L + 1`` with ``L``
the common denominator); the best-response polytopes of von Stengel (2007, "Equilibrium
computation for two-player games in strategic and extensive form", Algorithmic Game Theory
ch. 3) are then bounded and every vertex has rational coordinates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

import numpy as np
import numpy.typing as npt

_Entry = TypeVar("_Entry")
# The validated payoff matrices and every float vector or matrix derived from them.
FloatArray = npt.NDArray[np.float64]

# Beyond this many bits per integer payoff (for example 1e-300 beside 1 in a large game),
# exact arithmetic gets slow; such games are solved and verified in floating point on the
# normalised game. Small games (m + n <= 8) afford far longer integers.
MAX_EXACT_BITS = 256
MAX_EXACT_BITS_SMALL = 4096


def to_fraction(value: float) -> Fraction:
    """The decimal a number was written as: ``0.1`` -> 1/10, ``3`` -> 3, ``1e-300`` exact."""
    if isinstance(value, (int, np.integer)):
        return Fraction(int(value))
    return Fraction(repr(float(value)))


@dataclass(frozen=True)
class ExactGame:
    """Exact payoffs and their positive-integer normalisation.

    Attributes
    ----------
    a, b : tuple of tuple of Fraction
        The payoffs as given (decimal reading).
    a_pos, b_pos : tuple of tuple of int
        Positive integer payoffs with the same best responses (entries >= 1).
    integer : bool
        Whether every given payoff is an integer.
    """

    a: tuple[tuple[Fraction, ...], ...]
    b: tuple[tuple[Fraction, ...], ...]
    a_pos: tuple[tuple[int, ...], ...]
    b_pos: tuple[tuple[int, ...], ...]
    integer: bool


def _positive_integers(m: list[list[Fraction]]) -> list[list[int]]:
    low = min(min(row) for row in m)
    shifted = [[v - low for v in row] for row in m]
    scale = 1
    for row in shifted:
        for v in row:
            scale = math.lcm(scale, v.denominator)
    return [[int(v * scale) + 1 for v in row] for row in shifted]


def exact_game(a: FloatArray, b: FloatArray, max_bits: int | None = None) -> ExactGame | None:
    """The exact game, or ``None`` when its integer form needs more than ``max_bits`` bits.

    ``max_bits`` defaults to `MAX_EXACT_BITS_SMALL` for ``m + n <= 8``, else `MAX_EXACT_BITS`.
    """
    if max_bits is None:
        max_bits = MAX_EXACT_BITS_SMALL if sum(a.shape) <= 8 else MAX_EXACT_BITS
    fa = [[to_fraction(v) for v in row] for row in a.tolist()]
    fb = [[to_fraction(v) for v in row] for row in b.tolist()]
    ia, ib = _positive_integers(fa), _positive_integers(fb)
    if max(v.bit_length() for row in ia + ib for v in row) > max_bits:
        return None
    integer = all(v.denominator == 1 for row in fa + fb for v in row)
    return ExactGame(_frozen(fa), _frozen(fb), _frozen(ia), _frozen(ib), integer)


def _frozen(m: list[list[_Entry]]) -> tuple[tuple[_Entry, ...], ...]:
    return tuple(tuple(row) for row in m)


def normalised_float(a: FloatArray) -> FloatArray:
    """``(A - min) / range + 1``: entries in [1, 2], so tolerances are scale free."""
    low, high = float(a.min()), float(a.max())
    span = high - low
    if span == 0 or not math.isfinite(span):
        # A constant matrix, or a range beyond float (1e308 and -1e308): scale before shifting.
        if span == 0:
            return np.ones_like(a, dtype=float)
        scaled = a / max(abs(low), abs(high))
        return normalised_float(scaled)
    return (a - low) / span + 1.0


def _integer_rows(
    rows: Sequence[Sequence[Fraction | int]], rhs: Sequence[Fraction | int]
) -> list[list[int]]:
    """The augmented system scaled to integers (each row by its own common denominator)."""
    out = []
    for row, r in zip(rows, rhs):
        entries = [Fraction(v) for v in row] + [Fraction(r)]
        scale = 1
        for v in entries:
            scale = math.lcm(scale, v.denominator)
        out.append([int(v * scale) for v in entries])
    return out


def solve_unique(
    rows: Sequence[Sequence[Fraction | int]], rhs: Sequence[Fraction | int], n: int
) -> list[Fraction] | None:
    """The unique exact solution of ``rows @ z = rhs`` in ``n`` unknowns, else ``None``.

    Fraction-free Gauss-Jordan elimination (Bareiss 1968, "Sylvester's identity and
    multistep integer-preserving Gaussian elimination"): entries stay integers, every
    division is exact, so no gcd is computed until the final quotients. ``None`` when the
    system is inconsistent or has more than one solution (rank below ``n``); overdetermined
    consistent systems are fine.
    """
    m = _integer_rows(rows, rhs)
    det = 1
    pivots: list[int] = []  # pivots[k] = row holding the pivot of column k
    free = list(range(len(m)))
    for col in range(n):
        pick = next((r for r in free if m[r][col] != 0), None)
        if pick is None:
            return None  # a free variable: not a unique point
        free.remove(pick)
        prow = m[pick]
        piv = prow[col]
        for r in range(len(m)):
            if r != pick:
                factor = m[r][col]
                m[r] = [(v * piv - factor * q) // det for v, q in zip(m[r], prow)]
        det = piv
        pivots.append(pick)
    if any(m[r][n] != 0 for r in free):
        return None  # inconsistent
    return [Fraction(m[r][n], m[r][k]) for k, r in enumerate(pivots)]


def _over_common(v: Sequence[Fraction]) -> tuple[list[int], int]:
    """``v`` as integer numerators over one common denominator."""
    den = 1
    for x in v:
        den = math.lcm(den, Fraction(x).denominator)
    return [int(Fraction(x) * den) for x in v], den


def mat_vec(m: Sequence[Sequence[Fraction | int]], v: Sequence[Fraction]) -> list[Fraction]:
    """``M @ v`` exactly (integer arithmetic when ``M`` is integer)."""
    if all(isinstance(x, int) for row in m for x in row):
        nums, den = _over_common(v)
        return [Fraction(sum(x * y for x, y in zip(row, nums)), den) for row in m]
    return [sum((x * y for x, y in zip(row, v)), Fraction(0)) for row in m]


def vec_mat(v: Sequence[Fraction], m: Sequence[Sequence[Fraction | int]]) -> list[Fraction]:
    """``v @ M`` exactly."""
    return mat_vec([list(col) for col in zip(*m)], v)


def is_equilibrium_exact(
    a: Sequence[Sequence[Fraction | int]],
    b: Sequence[Sequence[Fraction | int]],
    x: Sequence[Fraction],
    y: Sequence[Fraction],
) -> bool:
    """Exact Nash test: probability vectors, and every played strategy is a best response."""
    if any(p < 0 for p in x) or any(q < 0 for q in y) or sum(x) != 1 or sum(y) != 1:
        return False
    row_values = mat_vec(a, y)
    col_values = vec_mat(x, b)
    best_row, best_col = max(row_values), max(col_values)
    return all(row_values[i] == best_row for i, p in enumerate(x) if p > 0) and all(
        col_values[j] == best_col for j, q in enumerate(y) if q > 0
    )


def max_regret(a: FloatArray, b: FloatArray, x: FloatArray, y: FloatArray) -> float:
    """The larger gain either player gets by a pure deviation (0 at an exact equilibrium)."""
    row_values = a @ y
    col_values = x @ b
    return float(max(row_values.max() - x @ row_values, col_values.max() - col_values @ y, 0.0))

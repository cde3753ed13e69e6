"""Pure-strategy Nash equilibria by direct best-response check.

A cell ``(i, j)`` is an equilibrium when ``A[i, j]`` is a maximum of column ``j`` of ``A``
and ``B[i, j]`` a maximum of row ``i`` of ``B`` (definition of Nash equilibrium, e.g.
Osborne and Rubinstein 1994, ch. 2). ``O(mn)`` and exact: on the exact game the comparison
is over `Fraction` values, so ties count as best responses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction

import numpy as np
import numpy.typing as npt

# Exact payoffs (the `rational.ExactGame` form) or the validated float matrix.
PayoffMatrix = Sequence[Sequence[Fraction]] | npt.NDArray[np.float64]


def pure_equilibria(a: PayoffMatrix, b: PayoffMatrix) -> Iterator[tuple[int, int]]:
    """Yield every cell ``(i, j)`` that is a pure Nash equilibrium, in row-major order.

    Parameters
    ----------
    a, b : matrix-like
        Row and column player payoffs (floats, or exact `Fraction`/int values).

    Yields
    ------
    tuple of int
        ``(row strategy, column strategy)``.
    """
    rows, cols = len(a), len(a[0])
    col_best = [max(a[i][j] for i in range(rows)) for j in range(cols)]
    row_best = [max(b[i][j] for j in range(cols)) for i in range(rows)]
    for i in range(rows):
        for j in range(cols):
            if a[i][j] == col_best[j] and b[i][j] == row_best[i]:
                yield i, j


def unit(k: int, size: int) -> npt.NDArray[np.float64]:
    """The pure strategy ``k`` as a probability vector."""
    out = np.zeros(size)
    out[k] = 1.0
    return out

"""Floating-point vertex enumeration with Qhull, for games too large to enumerate exactly.

Algorithm 3.5 of Nisan et al. 2007 ("Algorithmic Game Theory", ch. 3): enumerate the
vertices of both best-response polytopes once (half-space intersection by Qhull, Barber,
Dobkin and Huhdanpaa 1996) and pair the completely labelled ones.

1. P = {x >= 0, B'^T x <= 1}, Q = {y >= 0, A' y <= 1} with A', B' normalised into [1, 2].
2. Vertices of each polytope by Qhull's half-space intersection, de-duplicated.
3. Labels (zero coordinates, tight payoff rows) as bit masks, tolerance 1e-9.
4. Yield each pair whose masks cover all ``m + n`` labels (complement look-up).

Unlike nashpy's `vertex_enumeration`, which recomputes the second polytope for every vertex
of the first, each polytope is built once, so a 12x12 game takes milliseconds. Candidates
are floats; `equilibrium.Verifier` re-derives them exactly where the game allows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
from scipy.spatial import HalfspaceIntersection

_TOL = 1e-9


def _vertices(
    c: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Non-zero vertices of {z >= 0, c z <= 1}; returns (vertices, zero masks, tight masks)."""
    k, dim = c.shape
    if dim == 1:
        points = np.array([[1.0 / c[:, 0].max()]])
    else:
        halfspaces = np.vstack(
            [
                np.hstack([-np.eye(dim), np.zeros((dim, 1))]),
                np.hstack([c, -np.ones((k, 1))]),
            ]
        )
        interior = np.full(dim, 1.0 / (4.0 * dim))  # c z <= 2 * dim / (4 * dim) < 1
        points = HalfspaceIntersection(halfspaces, interior).intersections
        points = np.unique(np.round(points, 12), axis=0)
        points = points[np.abs(points).max(axis=1) > _TOL]
    points = np.where(np.abs(points) <= _TOL, 0.0, points)
    zero = points <= _TOL
    tight = (points @ c.T) >= 1.0 - _TOL
    return points, zero, tight


def _masks(flags: npt.NDArray[np.bool_], offset: int) -> npt.NDArray[np.int64]:
    weights = np.left_shift(np.int64(1), np.arange(flags.shape[1], dtype=np.int64) + offset)
    masks: npt.NDArray[np.int64] = (flags.astype(np.int64) * weights).sum(axis=1)
    return masks


def float_vertex_enumeration(
    a_norm: npt.NDArray[np.float64], b_norm: npt.NDArray[np.float64]
) -> Iterator[tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """Yield candidate extreme equilibria ``(x, y)`` of the normalised game.

    Parameters
    ----------
    a_norm, b_norm : numpy.ndarray
        Payoffs with entries in [1, 2] (`rational.normalised_float`).

    Yields
    ------
    tuple of numpy.ndarray
        Row and column mixed strategies (floats, to be verified).
    """
    m, n = a_norm.shape
    full = (1 << (m + n)) - 1
    xs, x_zero, x_tight = _vertices(b_norm.T)  # labels: i for x_i = 0, m + j for tight column j
    ys, y_zero, y_tight = _vertices(a_norm)  # labels: i for tight row i, m + j for y_j = 0
    x_mask = _masks(x_zero, 0) | _masks(x_tight, m)
    y_mask = _masks(y_tight, 0) | _masks(y_zero, m)
    # A non-degenerate vertex has exactly `dim` labels, so its partner's mask is the exact
    # complement: look it up. Vertices with extra labels (degenerate) are matched by a
    # vectorised superset test instead.
    y_count = np.array([int(v).bit_count() for v in y_mask], dtype=int)
    simple: dict[int, list[int]] = {}
    for y_index in np.flatnonzero(y_count == n):
        simple.setdefault(int(y_mask[y_index]), []).append(int(y_index))
    degenerate_y = np.flatnonzero(y_count > n)
    for i in range(len(xs)):
        mx = int(x_mask[i])
        need = full ^ mx
        if mx.bit_count() == m:
            partners = simple.get(need, [])
            extra = degenerate_y[(y_mask[degenerate_y] & need) == need]
            partners = list(partners) + [int(j) for j in extra]
        else:
            partners = [int(j) for j in np.flatnonzero((y_mask & need) == need)]
        for j in partners:
            yield xs[i] / xs[i].sum(), ys[j] / ys[j].sum()

"""Exact vertex enumeration: every extreme equilibrium, degenerate games included.

Algorithm: vertex enumeration of the best-response polytopes (Algorithm 3.5 of Nisan et al.
2007, "Algorithmic Game Theory", ch. 3 by von Stengel), done by brute force over bases and
in rational arithmetic, so degenerate vertices (more tight constraints than dimensions) get
their full label sets and no equilibrium is lost to rounding.

1. P = {x >= 0, B'^T x <= 1} and Q = {y >= 0, A' y <= 1} with A', B' positive integers.
2. A vertex has ``s`` free coordinates fixed by ``s`` tight payoff constraints: for every
   support S and tight set T of the same size, solve the square system exactly.
3. Keep feasible solutions, de-duplicated, with every label that holds exactly.
4. Yield each completely labelled pair (x, y) != (0, 0), normalised.

The number of bases is ``C(m + n, m)``; `count_bases` lets callers gate the cost.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from itertools import combinations

import numpy as np
import numpy.typing as npt

from dalrn_core.negotiation.rational import ExactGame, mat_vec, solve_unique

_COND_LIMIT = 1e8  # above this the float pre-check is not trusted; solve exactly


def count_bases(m: int, n: int) -> int:
    """How many square systems the enumeration solves per polytope."""
    return math.comb(m + n, m) - 1


def _float_screen(
    cf: npt.NDArray[np.float64], supports: npt.NDArray[np.int_], tights: npt.NDArray[np.int_]
) -> npt.NDArray[np.bool_]:
    """Which (tight, support) systems may give a vertex: a batched float pre-check.

    Returns a boolean matrix over ``tights x supports``: False only where the system is
    well conditioned and its float solution is clearly infeasible; everything else (singular,
    ill conditioned, feasible, borderline) is decided exactly by the caller.
    """
    s = supports.shape[1]
    subs = cf[tights[:, None, :, None], supports[None, :, None, :]]  # (T, S, s, s)
    flat = subs.reshape(-1, s, s)
    keep = np.ones(len(flat), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):  # singular -> inf, decided exactly
        cond = np.linalg.cond(flat)
    good = np.flatnonzero(np.isfinite(cond) & (cond < _COND_LIMIT))
    if len(good):
        sol = np.linalg.solve(flat[good], np.ones((len(good), s, 1)))[..., 0]
        support_of = np.tile(np.arange(len(supports)), len(tights))[good]
        full = np.zeros((len(good), cf.shape[1]))
        np.put_along_axis(full, supports[support_of], sol, axis=1)
        clearly_out = (sol.min(axis=1) < -1e-6) | ((full @ cf.T).max(axis=1) > 1 + 1e-6)
        keep[good[clearly_out]] = False
    return keep.reshape(len(tights), len(supports))


def _vertices(
    c: Sequence[Sequence[int]], dim: int
) -> list[tuple[tuple[Fraction, ...], frozenset[int], frozenset[int]]]:
    """Vertices of {z in R^dim : z >= 0, c z <= 1} other than 0, with zero and tight sets."""
    k = len(c)
    cf = np.array(c, dtype=float)
    seen: dict[tuple[Fraction, ...], tuple[frozenset[int], frozenset[int]]] = {}
    for s in range(1, min(dim, k) + 1):
        supports = np.array(list(combinations(range(dim), s)), dtype=int)
        tights = np.array(list(combinations(range(k), s)), dtype=int)
        for t_idx, s_idx in np.argwhere(_float_screen(cf, supports, tights)):
            support, tight = supports[s_idx].tolist(), tights[t_idx].tolist()
            rows = [[c[t][j] for j in support] for t in tight]
            sol = solve_unique(rows, [1] * s, s)
            if sol is None or any(v < 0 for v in sol):
                continue
            z = [Fraction(0)] * dim
            for j, v in zip(support, sol):
                z[j] = v
            values = mat_vec(c, z)
            if any(v > 1 for v in values):
                continue
            key = tuple(z)
            if key not in seen:
                zero = frozenset(j for j in range(dim) if z[j] == 0)
                tight_all = frozenset(t for t in range(k) if values[t] == 1)
                seen[key] = (zero, tight_all)
    return [(key, zero, tight) for key, (zero, tight) in seen.items()]


def exact_vertex_enumeration(game: ExactGame) -> Iterator[tuple[list[Fraction], list[Fraction]]]:
    """Yield every extreme Nash equilibrium ``(x, y)`` of ``game`` as exact probabilities.

    Parameters
    ----------
    game : ExactGame
        The game with its positive integer payoffs.

    Yields
    ------
    tuple of list of Fraction
        Row and column mixed strategies.
    """
    m, n = len(game.a_pos), len(game.a_pos[0])
    full = (1 << (m + n)) - 1
    b_t = [list(col) for col in zip(*game.b_pos)]
    xs = []
    for x, zero, tight in _vertices(b_t, m):  # labels: unplayed rows i, best-response columns m + j
        mask = sum(1 << i for i in zero) | sum(1 << (m + j) for j in tight)
        xs.append((x, mask))
    ys = []
    for y, zero, tight in _vertices(
        game.a_pos, n
    ):  # labels: best-response rows i, unplayed columns m + j
        mask = sum(1 << i for i in tight) | sum(1 << (m + j) for j in zero)
        ys.append((y, mask))
    for x, mx in xs:
        for y, my in ys:
            if mx | my == full:
                sx, sy = sum(x), sum(y)
                yield [v / sx for v in x], [v / sy for v in y]

"""An independent exact solver used as the tests' oracle (textbook definitions).

Vertices are found the textbook way: every choice of ``m`` of the ``m + n`` constraints of
the best-response polytope, solved by Cramer's rule over the rationals when the
determinant is non-zero, kept when feasible (von Stengel 2007, Definition 3.3 and
Algorithm 3.5). It shares no code with `dalrn_core.negotiation` (which solves
support-by-tight-set subsystems by Gauss-Jordan elimination), so agreement between the two
is evidence, not tautology.
"""

from __future__ import annotations

from fractions import Fraction
from itertools import combinations


def _det(m):
    """Determinant by Laplace expansion along the first row (dim <= 4 here: cheap)."""
    if len(m) == 1:
        return Fraction(m[0][0])
    return sum(
        (-1) ** c * Fraction(m[0][c]) * _det([row[:c] + row[c + 1 :] for row in m[1:]])
        for c in range(len(m))
        if m[0][c] != 0
    )


def _vertices(rows, rhs, dim):
    """Vertices of {z : rows z <= rhs} (rows as lists of ints), with their tight row sets."""
    out = {}
    for subset in combinations(range(len(rows)), dim):
        m = [rows[k] for k in subset]
        det = _det(m)
        if det == 0:
            continue
        # Cramer's rule: z_c = det(m with column c replaced by the right-hand side) / det.
        z = tuple(
            _det([row[:c] + [rhs[k]] + row[c + 1 :] for row, k in zip(m, subset)]) / det
            for c in range(dim)
        )
        values = [sum(r[c] * z[c] for c in range(dim)) for r in rows]
        if all(v <= rhs[k] for k, v in enumerate(values)):
            out[z] = frozenset(k for k, v in enumerate(values) if v == rhs[k])
    return out


def extreme_equilibria(a, b):
    """Set of extreme equilibria ((x...), (y...)) as Fractions of the integer game (a, b)."""
    m, n = len(a), len(a[0])
    low_a = min(min(r) for r in a)
    low_b = min(min(r) for r in b)
    ap = [[v - low_a + 1 for v in r] for r in a]
    bp = [[v - low_b + 1 for v in r] for r in b]
    # P: rows 0..m-1 are -x_i <= 0 (label i); rows m..m+n-1 are (B^T x)_j <= 1 (label m+j).
    p_rows = [[-int(i == k) for k in range(m)] for i in range(m)] + [
        [bp[i][j] for i in range(m)] for j in range(n)
    ]
    p_rhs = [0] * m + [1] * n
    # Q: rows 0..m-1 are (A y)_i <= 1 (label i); rows m..m+n-1 are -y_j <= 0 (label m+j).
    q_rows = [list(ap[i]) for i in range(m)] + [[-int(j == k) for k in range(n)] for j in range(n)]
    q_rhs = [1] * m + [0] * n
    full = frozenset(range(m + n))
    found = set()
    for x, lx in _vertices(p_rows, p_rhs, m).items():
        if not any(x):
            continue
        for y, ly in _vertices(q_rows, q_rhs, n).items():
            if any(y) and lx | ly == full:
                sx, sy = sum(x), sum(y)
                found.add((tuple(v / sx for v in x), tuple(v / sy for v in y)))
    return found


def is_nash(a, b, x, y) -> bool:
    """No pure deviation improves either player (exact, Fractions)."""
    m, n = len(a), len(a[0])
    u_row = [sum(Fraction(a[i][j]) * y[j] for j in range(n)) for i in range(m)]
    u_col = [sum(Fraction(b[i][j]) * x[i] for i in range(m)) for j in range(n)]
    value_row = sum(x[i] * u_row[i] for i in range(m))
    value_col = sum(y[j] * u_col[j] for j in range(n))
    return max(u_row) <= value_row and max(u_col) <= value_col

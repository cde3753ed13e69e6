"""Nash bargaining solution over the feasible outcomes, for the no-equilibrium fallback.

Feasible set: every lottery over the cells of the game, i.e. the convex hull of the payoff
pairs ``(A[i, j], B[i, j])`` (a mediator draws a cell and both parties play it). The Nash
bargaining solution (Nash 1950) maximises ``(u_1 - d_1)(u_2 - d_2)`` over that set with
``u >= d``. Exact for two parties:

1. Convex hull of the distinct payoff pairs (Andrew's monotone chain, exact arithmetic).
2. On each hull edge ``p + t (q - p)``, clip ``t`` to the quadrant ``u >= d`` and maximise
   the quadratic product: its maximiser is rational, so the point is exact.
3. Keep the best point; it is unique when the product is positive (strict quasi-concavity).
4. Product 0 everywhere (no lottery gives *both* parties more than BATNA): no agreement.

More than two parties: `nash_bargaining_joint` (`bargaining_joint`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dalrn_core.negotiation.bargaining_joint import JointBargaining, nash_bargaining_joint  # noqa: F401 - public API

Number = Fraction | float
Point = tuple[Number, Number]


@dataclass(frozen=True)
class LotteryItem:
    """Play cell ``(row, col)`` with ``probability``."""

    row: int
    col: int
    probability: float
    probability_exact: Fraction | None = None


@dataclass(frozen=True)
class BargainingPoint:
    """The Nash bargaining solution: payoffs, and a lottery over at most two cells that gives them."""

    payoffs: tuple[float, float]
    gains: tuple[float, float]
    nsw: float
    lottery: tuple[LotteryItem, ...]
    payoffs_exact: tuple[Fraction, Fraction] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "bargaining",
            "payoffs": [float(v) for v in self.payoffs],
            "gains": [float(v) for v in self.gains],
            "nsw": float(self.nsw),
            "lottery": [
                {"row": item.row, "col": item.col, "probability": float(item.probability)}
                for item in self.lottery
            ],
        }
        if self.payoffs_exact is not None:
            out["payoffs_exact"] = [str(v) for v in self.payoffs_exact]
            out["lottery_exact"] = [str(item.probability_exact) for item in self.lottery]
        return out


def _cross(o: Point, a: Point, b: Point) -> Number:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def convex_hull(points: Sequence[Point]) -> list[Point]:
    """Hull vertices in counter-clockwise order (collinear points dropped), Andrew 1979."""
    pts = sorted(set(points))
    if len(pts) <= 2:
        return pts
    lower: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def _best_on_edge(p: Point, q: Point, d: Point) -> tuple[Number, Number] | None:
    """(t, product) maximising the gain product on segment p->q within u >= d, else None."""
    a = (p[0] - d[0], p[1] - d[1])
    b = (q[0] - p[0], q[1] - p[1])
    # 0 * a[0] keeps Fraction-ness: exact input gives an exact t.
    lo: Number = 0 * a[0]
    hi: Number = 0 * a[0] + 1
    for ai, bi in zip(a, b):
        if bi == 0:
            if ai < 0:
                return None
        elif bi > 0:
            lo = max(lo, -ai / bi)
        else:
            hi = min(hi, -ai / bi)
    if lo > hi:
        return None

    def product(t: Number) -> Number:
        return (a[0] + t * b[0]) * (a[1] + t * b[1])

    candidates = [lo, hi]
    if b[0] * b[1] < 0:
        star = -(a[0] * b[1] + a[1] * b[0]) / (2 * b[0] * b[1])
        if lo < star < hi:
            candidates.append(star)
    t = max(candidates, key=lambda s: (product(s), -s))
    return t, product(t)


def nash_bargaining_2(
    a: Sequence[Sequence[Number]],
    b: Sequence[Sequence[Number]],
    batna: Point,
    *,
    tol: float = 0.0,
) -> BargainingPoint | None:
    """The two-party Nash bargaining solution over lotteries of cells, or ``None`` (no agreement).

    Parameters
    ----------
    a, b : matrix of Fraction or float
        Payoffs of the two parties per cell; use `Fraction` values for an exact answer.
    batna : tuple
        Disagreement payoffs ``(d_1, d_2)``, same number type as the payoffs.
    tol : float
        A product at or below ``tol`` counts as no gain (0 for exact input).
    """
    cells: dict[Point, tuple[int, int]] = {}
    for i, row in enumerate(a):
        for j, _ in enumerate(row):
            cells.setdefault((row[j], b[i][j]), (i, j))  # first cell in row-major order
    hull = convex_hull(list(cells))
    edges = (
        [(hull[k], hull[(k + 1) % len(hull)]) for k in range(len(hull))]
        if len(hull) > 1
        else [(hull[0], hull[0])]
    )
    best = None
    for p, q in edges:
        found = _best_on_edge(p, q, batna)
        if found is None:
            continue
        t, product = found
        point = (p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1]))
        # Deterministic among equal products: the larger product, then the smaller t.
        if best is None or product > best[0]:
            best = (product, point, p, q, t)
    if best is None or best[0] <= tol:
        return None
    product, point, p, q, t = best
    items = []
    for vertex, prob in ((p, 1 - t), (q, t)):
        if prob > 0:
            i, j = cells[vertex]
            items.append(
                LotteryItem(i, j, float(prob), prob if isinstance(prob, Fraction) else None)
            )
    if len(items) == 2 and (items[0].row, items[0].col) == (items[1].row, items[1].col):
        items = [
            LotteryItem(
                items[0].row, items[0].col, 1.0, Fraction(1) if isinstance(t, Fraction) else None
            )
        ]
    u_row, u_col = point
    return BargainingPoint(
        payoffs=(float(u_row), float(u_col)),
        gains=(float(u_row - batna[0]), float(u_col - batna[1])),
        nsw=float(product),
        lottery=tuple(items),
        payoffs_exact=(
            (u_row, u_col) if isinstance(u_row, Fraction) and isinstance(u_col, Fraction) else None
        ),
    )

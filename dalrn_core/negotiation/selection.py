"""Equilibrium selection by a welfare rule over gains above BATNA.

Gains are ``g_i = u_i - d_i`` (payoff minus the party's BATNA). Only equilibria with every
``g_i >= 0`` are admissible (individual rationality). Rules, each maximised:

- ``nsw``: Nash social welfare ``g_1 * g_2`` (Nash 1950, "The bargaining problem").
- ``egalitarian``: ``min_i g_i`` (Kalai 1977, "Proportional solutions to bargaining").
- ``kalai_smorodinsky``: ``min_i g_i / (ideal_i - d_i)``, ``ideal_i`` the best payoff of
  party ``i`` over the admissible equilibria (Kalai and Smorodinsky 1975); a party whose
  ideal equals its BATNA counts as fully served (ratio 1).
- ``utilitarian``: ``g_1 + g_2``.

Tie-break, in this order, each step keeping only the candidates best on it:
1. the rule's score; 2. utilitarian sum of gains; 3. the smaller gain (egalitarian);
4. fewer strategies in the support (pure before mixed: simpler to carry out);
5. the earlier equilibrium in canonical order (`Equilibrium.sort_key`).
Exact games compare `Fraction` values exactly; float games treat values within a relative
1e-9 as tied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from dalrn_core.negotiation.equilibrium import Equilibrium
from dalrn_core.negotiation.rational import to_fraction

Number = Fraction | float
Pair = tuple[Number, Number]  # (row party, column party)
CRITERIA = ("rule", "utilitarian", "egalitarian", "support_size", "canonical_order")
# Tie-break criteria in order: a name and the value (larger is better) of a score.
Criteria = list[tuple[str, "Callable[[Score], Number]"]]


@dataclass(frozen=True)
class Score:
    """Welfare of one equilibrium (index into the equilibrium list) under every rule."""

    index: int
    payoffs: Pair
    gains: Pair
    admissible: bool
    reason: str
    welfare: dict[str, Number]
    rank: int | None = None
    lost_because: str = ""
    welfare_scale: float = 1.0  # welfare is computed on payoffs / welfare_scale

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "payoffs": [float(v) for v in self.payoffs],
            "gains": [float(v) for v in self.gains],
            "admissible": self.admissible,
            "reason": self.reason,
            "welfare": {k: float(v) for k, v in self.welfare.items()},
            "rank": self.rank,
            "lost_because": self.lost_because,
            "welfare_scale": self.welfare_scale,
        }


def _welfare(gains: Sequence[Number], ranges: Sequence[Number]) -> dict[str, Number]:
    g1, g2 = gains
    ks_terms = [g / r if r > 0 else 1 for g, r in zip(gains, ranges)]
    return {
        "nsw": g1 * g2,
        "egalitarian": min(g1, g2),
        "kalai_smorodinsky": min(ks_terms),
        "utilitarian": g1 + g2,
    }


def score_equilibria(equilibria: Sequence[Equilibrium], batna: tuple[float, float]) -> list[Score]:
    """Gains, admissibility and welfare of every equilibrium (unranked)."""
    exact = all(e.payoffs_exact is not None for e in equilibria)
    # Payoffs like 1e300 (or 1e-300) would overflow (underflow) the products reported as
    # floats: such games are scored on payoffs divided by their largest magnitude, a
    # positive scaling that changes no ranking; `Score.welfare_scale` records the divisor.
    biggest = max(
        [abs(float(v)) for e in equilibria for v in e.payoffs] + [abs(float(v)) for v in batna]
    )
    # Float games (no exact form) are always scored at unit scale, so the relative tie
    # tolerance of `_tied` means the same thing at every magnitude.
    extreme = biggest > 1e100 or 0 < biggest < 1e-100
    scale = biggest if (extreme or (not exact and biggest > 0)) else 1.0
    div = to_fraction(scale) if exact else scale
    d = (
        tuple(to_fraction(v) / div for v in batna)
        if exact
        else tuple(float(v) / scale for v in batna)
    )
    tol = 0 if exact else 1e-9
    rows = []
    for k, e in enumerate(equilibria):
        # `exact` means every equilibrium has exact payoffs.
        payoffs: Sequence[Number] = (
            e.payoffs_exact if exact and e.payoffs_exact is not None else e.payoffs
        )
        u = _pair(v / div for v in payoffs)
        gains = _pair(ui - di for ui, di in zip(u, d))
        short = [
            f"{who} payoff {float(ui) * scale:g} < BATNA {float(di) * scale:g}"
            for who, ui, di, g in zip(("row", "column"), u, d, gains)
            if g < -tol
        ]
        gains = _pair(g if g > 0 else (g if g < -tol else type(g)(0)) for g in gains)
        rows.append((k, u, gains, not short, "; ".join(short)))
    admissible = [r for r in rows if r[3]]
    ideal = [max((r[1][i] for r in admissible), default=d[i]) for i in range(2)]
    ranges = [ideal[i] - d[i] for i in range(2)]
    return [
        Score(
            k,
            _unscale(u, scale),
            _unscale(gains, scale),
            ok,
            reason,
            _welfare(gains, ranges) if ok else {},
            welfare_scale=scale,
        )
        for k, u, gains, ok, reason in rows
    ]


def _pair(values: Iterable[Number]) -> Pair:
    row, column = values
    return row, column


def _unscale(values: Pair, scale: float) -> Pair:
    if scale == 1.0:
        return values
    return _pair(v * to_fraction(scale) if isinstance(v, Fraction) else v * scale for v in values)


def _tied(best: Number, value: Number) -> bool:
    if isinstance(best, Fraction) and isinstance(value, Fraction):
        return value == best
    return abs(float(value) - float(best)) <= 1e-9 * max(1.0, abs(float(best)))


def _criteria(rule: str, equilibria: Sequence[Equilibrium]) -> Criteria:
    return [
        (rule, lambda s: s.welfare[rule]),
        ("utilitarian", lambda s: s.welfare["utilitarian"]),
        ("egalitarian", lambda s: s.welfare["egalitarian"]),
        ("support size", lambda s: -equilibria[s.index].support_size),
        ("canonical order", lambda s: -s.index),
    ]


def _best(pool: list[Score], criteria: Criteria) -> Score:
    for _, f in criteria:
        top = max(f(s) for s in pool)
        pool = [s for s in pool if _tied(top, f(s))]
        if len(pool) == 1:
            break
    return pool[0]


def _why(loser: Score, winner: Score, criteria: Criteria) -> str:
    for name, f in criteria:
        if not _tied(f(winner), f(loser)):
            if name in ("support size", "canonical order"):
                return f"tied on every welfare number; lost on {name}"
            prefix = "" if name == criteria[0][0] else f"tied on {criteria[0][0]}; "
            return f"{prefix}{name} {float(f(loser)):.6g} < {float(f(winner)):.6g}"
    return "identical"


def rank(scores: list[Score], equilibria: Sequence[Equilibrium], rule: str) -> list[Score]:
    """Admissible scores in selection order (rank 0 is selected), then the inadmissible.

    Each admissible loser carries ``lost_because``: the first tie-break criterion on which it
    falls below the selected equilibrium.
    """
    criteria = _criteria(rule, equilibria)
    pool = [s for s in scores if s.admissible]
    ordered: list[Score] = []
    while pool:
        best = _best(pool, criteria)
        ordered.append(best)
        pool = [s for s in pool if s.index != best.index]
    out = []
    for position, s in enumerate(ordered):
        why = "" if position == 0 else _why(s, ordered[0], criteria)
        out.append(
            Score(s.index, s.payoffs, s.gains, True, "", s.welfare, position, why, s.welfare_scale)
        )
    out += [s for s in scores if not s.admissible]
    return out

"""Nash bargaining among any number of parties over lotteries of joint outcomes.

Feasible set: the convex hull of the outcomes' utility vectors (a lottery ``p`` over the
outcomes gives ``u = sum_k p_k v_k``). The Nash bargaining solution (Nash 1950; n-party
form, e.g. Kaneko and Nakamura 1979) maximises ``prod_i (u_i - d_i)`` over ``u >= d``.

1. Scale each party's gains ``v_ki - d_i`` by its largest gain (the solution is invariant
   to positive scaling), so every number is of order one.
2. Linear program (HiGHS): the largest ``s`` with every gain ``>= s``. If ``s <= 0`` no
   lottery gives everyone more than BATNA: outcome ``no_agreement``.
3. From that strictly feasible lottery, maximise ``sum_i log(gain_i)`` (concave in ``p``)
   by fully corrective Frank-Wolfe (Holloway 1974; Lacoste-Julien and Jaggi 2015): solve
   the problem exactly on a small active set of outcomes (SLSQP), add the outcome with the
   largest gradient, drop outcomes left at weight 0, until the gap below is <= 1e-9.
4. Certificate: for a concave objective over the simplex the Frank-Wolfe gap
   ``max_k grad_k - p . grad`` bounds how far ``log NSW`` is below its optimum; it is
   returned as ``optimality_gap`` (0 at the optimum).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linprog, minimize

from dalrn_core.negotiation.result import Outcome
from dalrn_core.negotiation.validation import MAX_JOINT_OUTCOMES as MAX_OUTCOMES  # noqa: F401 - public name
from dalrn_core.negotiation.validation import validate_joint


@dataclass(frozen=True)
class JointBargaining:
    """Result of `nash_bargaining_joint`."""

    outcome: Outcome  # "bargaining" or "no_agreement"
    parties: tuple[str, ...]
    batna: dict[str, float]
    payoffs: dict[str, float] | None
    gains: dict[str, float] | None
    lottery: tuple[tuple[int, float], ...]  # (outcome index, probability), probability > 0
    nsw: float  # product of gains in the parties' own units (0 without agreement)
    optimality_gap: float
    explanation: str
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "parties": list(self.parties),
            "batna": dict(self.batna),
            "payoffs": self.payoffs,
            "gains": self.gains,
            "lottery": [{"outcome": k, "probability": p} for k, p in self.lottery],
            "nsw": self.nsw,
            "optimality_gap": self.optimality_gap,
            "explanation": self.explanation,
            "notes": list(self.notes),
        }


def _no_agreement(
    parties: tuple[str, ...],
    d: npt.NDArray[np.float64],
    explanation: str,
    notes: Sequence[str] = (),
) -> JointBargaining:
    return JointBargaining(
        "no_agreement",
        parties,
        dict(zip(parties, d.tolist())),
        None,
        None,
        (),
        0.0,
        0.0,
        explanation,
        tuple(notes),
    )


def nash_bargaining_joint(
    outcomes: list[dict[str, float]], batna: dict[str, float]
) -> JointBargaining:
    """Nash bargaining solution over lotteries of joint outcomes, for any number of parties.

    Parameters
    ----------
    outcomes : list of dict
        Each joint outcome as ``{party: utility}``; every outcome names the same parties.
    batna : dict
        ``{party: utility without agreement}``; its key order is the party order.

    Returns
    -------
    JointBargaining
        ``outcome="bargaining"`` with payoffs and the lottery, or ``"no_agreement"`` (not an
        error) when no lottery gives every party strictly more than its BATNA.
    """
    parties, v, d = validate_joint(outcomes, batna)
    k, n = v.shape
    g = v - d
    best_gain = g.max(axis=0)
    if np.any(best_gain <= 0):
        who = [p for p, bg in zip(parties, best_gain) if bg <= 0]
        return _no_agreement(parties, d, f"no outcome gives {', '.join(who)} more than its BATNA")
    gs = g / best_gain  # scaled gains, each party's best is 1
    # Step 2: maximise s subject to gs^T p >= s, sum p = 1, p >= 0.
    lp = linprog(
        c=np.r_[np.zeros(k), -1.0],
        A_ub=np.c_[-gs.T, np.ones(n)],
        b_ub=np.zeros(n),
        A_eq=np.r_[np.ones(k), 0.0][None, :],
        b_eq=[1.0],
        bounds=[(0, 1)] * k + [(None, 1)],
        method="highs",
    )
    if lp.status != 0:
        raise ArithmeticError(f"feasibility LP failed: {lp.message}")
    s_star = -lp.fun
    if s_star <= 1e-9:
        return _no_agreement(
            parties,
            d,
            "no lottery over the outcomes gives every party more than its BATNA "
            f"(best achievable worst-off scaled gain {s_star:.3g})",
        )
    p, gap, converged = _fully_corrective_frank_wolfe(gs, np.clip(lp.x[:k], 0, None))
    notes = [] if converged else [f"stopped at the iteration limit; optimality gap {gap:.2e}"]
    u = d + (g.T @ p)
    gains = u - d
    return JointBargaining(
        outcome="bargaining",
        parties=parties,
        batna=dict(zip(parties, d.tolist())),
        payoffs=dict(zip(parties, u.tolist())),
        gains=dict(zip(parties, gains.tolist())),
        lottery=tuple((int(i), float(p[i])) for i in np.flatnonzero(p)),
        nsw=float(np.prod(gains)),
        optimality_gap=gap,
        explanation=f"Nash bargaining over lotteries of {k} outcomes; every party gains over its BATNA",
        notes=tuple(notes),
    )


def _restricted(
    gs_s: npt.NDArray[np.float64], q0: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Maximise sum(log(gs_s^T q)) over the simplex of the few active outcomes (SLSQP)."""
    size = len(q0)
    if size == 1:
        return np.ones(1)

    def objective(q: npt.NDArray[np.float64]) -> float:
        return -float(np.sum(np.log(np.maximum(gs_s.T @ q, 1e-300))))

    def gradient(q: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return -(gs_s @ (1.0 / np.maximum(gs_s.T @ q, 1e-300)))

    res = minimize(
        objective,
        q0,
        jac=gradient,
        method="SLSQP",
        bounds=[(0, 1)] * size,
        constraints=[{"type": "eq", "fun": lambda q: q.sum() - 1, "jac": lambda q: np.ones(size)}],
        options={"maxiter": 200, "ftol": 1e-14},
    )
    q = np.clip(res.x, 0, None)
    q /= q.sum()
    # Keep the start if the solver wandered off (the start is strictly feasible).
    return q if np.all(gs_s.T @ q > 0) and objective(q) <= objective(q0) else q0


def _fully_corrective_frank_wolfe(
    gs: npt.NDArray[np.float64], p0: npt.NDArray[np.float64], tol: float = 1e-9, max_iter: int = 200
) -> tuple[npt.NDArray[np.float64], float, bool]:
    """(lottery, Frank-Wolfe gap, converged) for max sum(log(gs^T p)) over the simplex."""
    p = p0 / p0.sum()
    n_parties = gs.shape[1]
    gap = np.inf
    for _ in range(max_iter):
        active = np.flatnonzero(p > 1e-12)
        q = _restricted(gs[active], p[active] / p[active].sum())
        p = np.zeros_like(p)
        p[active] = q
        grad = gs @ (1.0 / (gs.T @ p))
        gap = float(max(grad.max() - n_parties, 0.0))  # p . grad == n_parties exactly
        if gap <= tol:
            p = np.where(p > 1e-12, p, 0.0)
            return p / p.sum(), gap, True
        best = int(np.argmax(grad))
        # Enter the best outcome with a small weight so the next restricted start sees it,
        # small enough that every gain stays positive (half the way to the first zero).
        u, v = gs.T @ p, gs[best]
        worse = v < 0
        step = (
            0.01
            if not worse.any()
            else min(0.01, 0.5 * float(np.min(u[worse] / (u[worse] - v[worse]))))
        )
        p = (1 - step) * p
        p[best] += step
    return p, gap, False

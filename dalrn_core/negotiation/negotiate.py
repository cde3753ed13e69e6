"""The negotiation's entry: `settle` a dispute, `negotiate` a two-party game.

`settle` sends a dispute with a game to `negotiate` and one with joint outcomes to
`bargaining_joint.nash_bargaining_joint`, and returns both in the `NegotiationResult` shape.
`negotiate` settles a bimatrix game:

1. Validate (`validation`); default BATNA is each party's minimum payoff.
2. Enumerate the extreme Nash equilibria under a hard time limit (`time_limit`).
3. Keep the equilibria that give both parties at least their BATNA and pick one by the
   rule with its documented tie-break (`selection`): outcome ``equilibrium``.
4. None admissible: the Nash bargaining solution over lotteries of cells above BATNA
   (`bargaining`): outcome ``bargaining``; if no lottery gives both parties more than
   BATNA: ``no_agreement``, explained in ``notes``, not an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dalrn_core.dispute.model import Dispute
from dalrn_core.errors import InputError, Problem
from dalrn_core.negotiation.bargaining import BargainingPoint, nash_bargaining_2
from dalrn_core.negotiation.bargaining_joint import JointBargaining, nash_bargaining_joint
from dalrn_core.negotiation.equilibrium import Equilibrium
from dalrn_core.negotiation.phases import Limits, PhaseEnd
from dalrn_core.negotiation.rational import exact_game, to_fraction
from dalrn_core.negotiation.result import (
    Candidate,
    EquilibriumPoint,
    EquilibriumSearch,
    LotteryTerm,
    NegotiationResult,
    Outcome,
)
from dalrn_core.negotiation.selection import Score, rank, score_equilibria
from dalrn_core.negotiation.time_limit import enumerate_equilibria
from dalrn_core.negotiation.validation import (
    DEFAULT_MAX_STRATEGIES,
    validate_batna,
    validate_bimatrix,
    validate_rule,
    validate_time_limit,
)

PAYLOAD_FIELDS = ("row_payoffs", "col_payoffs", "rule", "batna", "time_limit_s")


@dataclass(frozen=True)
class BimatrixSettlement:
    """Everything the memo needs: the equilibria, the choice, why, and how it was computed.

    ``selected`` is an `Equilibrium` (outcome ``equilibrium``), a `BargainingPoint`
    (``bargaining``) or ``None`` (``no_agreement``); ``scores`` ranks the candidates with
    their welfare numbers and why each alternative lost; ``method`` names the phases that
    ran to completion; ``complete`` says a complete enumeration finished.
    """

    equilibria: list[Equilibrium]
    selected: Equilibrium | BargainingPoint | None
    rule: str
    outcome: Outcome
    timed_out: bool
    method: tuple[str, ...]
    batna: tuple[float, float]
    scores: list[Score]
    notes: list[str]
    complete: bool = False
    exact: bool = False
    selected_index: int | None = None
    phases: tuple[PhaseEnd, ...] = field(default=())
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The CLI contract of issue 6 (numbers as floats) plus explanatory keys."""
        selected: dict[str, Any] | None
        if isinstance(self.selected, Equilibrium):
            selected = {
                "kind": "equilibrium",
                "index": self.selected_index,
                **self.selected.to_json(),
            }
        elif isinstance(self.selected, BargainingPoint):
            selected = self.selected.to_json()
        else:
            selected = None
        return {
            "equilibria": [e.to_json() for e in self.equilibria],
            "selected": selected,
            "rule": self.rule,
            "outcome": self.outcome,
            "timed_out": self.timed_out,
            "batna": [float(v) for v in self.batna],
            "method": list(self.method),
            "complete": self.complete,
            "exact": self.exact,
            "scores": [s.to_json() for s in self.scores],
            "notes": list(self.notes),
            "phases": [
                {
                    "name": p.name,
                    "status": p.status,
                    "detail": p.detail,
                    "seconds": round(p.seconds, 6),
                    "found": p.found,
                    "rejected": p.rejected,
                }
                for p in self.phases
            ],
            "seconds": round(self.seconds, 6),
        }


def negotiate(
    row_payoffs: Any,
    col_payoffs: Any,
    *,
    rule: str = "nsw",
    batna: Any = None,
    time_limit_s: float | None = 5.0,
    max_strategies: int = DEFAULT_MAX_STRATEGIES,
    limits: Limits | None = None,
) -> BimatrixSettlement:
    """Settle a bimatrix game by the rule, within BATNA, under a time limit.

    Parameters
    ----------
    row_payoffs, col_payoffs : list of lists of numbers
        Payoffs of the row and column party per strategy pair.
    rule : {"nsw", "egalitarian", "kalai_smorodinsky", "utilitarian"}
        Welfare rule over gains above BATNA (see `selection`).
    batna : pair of numbers or None
        Best alternative to a negotiated agreement of (row, column); ``None`` gives each
        party its minimum payoff.
    time_limit_s : float or None
        Hard limit on the equilibrium search (a child process, killed at the limit; small
        games, whose search is bounded, run in this process, see `Limits.in_process`);
        ``None`` no limit.
    max_strategies : int
        Size cap per player.
    limits : Limits or None
        Size gates of the exponential enumeration phases and of the in-process search
        (default `Limits()`).

    Raises
    ------
    InputError
        Bad matrices, rule, BATNA or time limit (field and rule named).
    """
    a, b = validate_bimatrix(row_payoffs, col_payoffs, max_strategies=max_strategies)
    rule = validate_rule(rule)
    d = validate_batna(batna, a, b)
    limit = validate_time_limit(time_limit_s)
    found = enumerate_equilibria(a, b, time_limit_s=limit, limits=limits)
    equilibria = list(found.equilibria)
    notes = list(found.notes)
    scores = rank(score_equilibria(equilibria, d), equilibria, rule)

    def settled(
        outcome: Outcome, selected: Equilibrium | BargainingPoint | None, index: int | None = None
    ) -> BimatrixSettlement:
        return BimatrixSettlement(
            equilibria=equilibria,
            selected=selected,
            rule=rule,
            outcome=outcome,
            timed_out=found.timed_out,
            method=found.methods,
            batna=d,
            scores=scores,
            notes=notes,
            complete=found.complete,
            exact=found.exact,
            selected_index=index,
            phases=found.phases,
            seconds=found.seconds,
        )

    if scores and scores[0].admissible:
        best = scores[0]
        notes.append(_selection_note(rule, best, scores))
        return settled("equilibrium", equilibria[best.index], best.index)
    notes.append(
        ("no equilibrium gives both parties at least their BATNA" if found.complete
         else "no equilibrium found gives both parties at least their BATNA (the search was not complete)")
        if equilibria
        else "no equilibrium was found within the time limit"
    )
    exact = exact_game(a, b)
    if exact is not None:
        point = nash_bargaining_2(exact.a, exact.b, (to_fraction(d[0]), to_fraction(d[1])))
    else:
        scale = max(1.0, float(abs(a).max()), float(abs(b).max()), abs(d[0]), abs(d[1]))
        point = nash_bargaining_2(a.tolist(), b.tolist(), d, tol=1e-12 * scale * scale)
    if point is None:
        notes.append(
            "no lottery over the outcomes gives both parties more than their BATNA: no agreement"
        )
        return settled("no_agreement", None)
    notes.append(
        "fallback: Nash bargaining solution over lotteries of outcomes (convex hull of payoff pairs) "
        f"above BATNA, gains {point.gains[0]:.6g} and {point.gains[1]:.6g}"
    )
    return settled("bargaining", point)


def _selection_note(rule: str, best: Score, scores: list[Score]) -> str:
    others = sum(1 for s in scores if s.admissible) - 1
    rejected = sum(1 for s in scores if not s.admissible)
    return (
        f"selected equilibrium {best.index} by {rule} = {float(best.welfare[rule]):.6g} "
        f"(gains {float(best.gains[0]):.6g}, {float(best.gains[1]):.6g}); {others} other admissible, "
        f"{rejected} below BATNA"
    )


def negotiate_payload(payload: Any) -> BimatrixSettlement:
    """`negotiate` from the CLI file format.

    ``{"row_payoffs": [[...]], "col_payoffs": [[...]], "rule": "nsw", "batna": [a, b]}``;
    ``rule``, ``batna`` (and ``time_limit_s``) are optional, ``null`` meaning the default.
    Unknown keys are rejected so a misspelt field is not silently ignored.
    """
    if not isinstance(payload, dict):
        raise InputError.one(
            "(file)",
            "must be a JSON object with row_payoffs and col_payoffs",
            subject="negotiation input",
        )
    problems = [
        Problem(str(key), f"unknown field; allowed: {', '.join(PAYLOAD_FIELDS)}")
        for key in payload
        if key not in PAYLOAD_FIELDS
    ]
    problems += [
        Problem(key, "is required") for key in ("row_payoffs", "col_payoffs") if key not in payload
    ]
    if problems:
        raise InputError(problems, subject="negotiation input")
    kwargs: dict[str, Any] = {}
    if payload.get("rule") is not None:
        kwargs["rule"] = payload["rule"]
    if payload.get("batna") is not None:
        kwargs["batna"] = payload["batna"]
    if "time_limit_s" in payload:
        kwargs["time_limit_s"] = payload["time_limit_s"]
    return negotiate(payload["row_payoffs"], payload["col_payoffs"], **kwargs)


def settle(dispute: Dispute, *, rule: str = "nsw", time_limit_s: float = 5.0) -> NegotiationResult:
    """Negotiate the dispute: its game by `negotiate`, or its joint outcomes by
    `nash_bargaining_joint` (which maximises Nash social welfare whatever ``rule`` says)."""
    if dispute.game is not None:
        game = dispute.game
        batna = [dispute.batna_of(game.row_party), dispute.batna_of(game.col_party)]
        found = negotiate(game.row_payoffs, game.col_payoffs, rule=rule, batna=batna,
                          time_limit_s=time_limit_s)
        return from_bimatrix(found, (game.row_party, game.col_party), columns=len(game.col_strategies))
    outcomes = [dict(o.payoffs) for o in dispute.outcomes or []]
    joint_batna = {p.id: p.batna for p in dispute.parties}
    notes = [] if rule == "nsw" else [
        f"rule {rule} applies to two-party games; joint outcomes are settled by Nash bargaining"]
    return from_joint(nash_bargaining_joint(outcomes, joint_batna), extra_notes=notes)


def from_bimatrix(found: BimatrixSettlement, parties: tuple[str, str], *, columns: int) -> NegotiationResult:
    """The two-party search in the common shape (numbers as floats)."""
    selected = found.selected
    payoffs = gains = strategies = None
    lottery: list[LotteryTerm] = []
    batna = dict(zip(parties, (float(v) for v in found.batna)))
    if selected is not None:
        payoffs = dict(zip(parties, (float(v) for v in selected.payoffs)))
        gains = {p: payoffs[p] - batna[p] for p in parties}
    if isinstance(selected, Equilibrium):
        strategies = {parties[0]: [float(p) for p in selected.row_strategy],
                      parties[1]: [float(q) for q in selected.col_strategy]}
    elif isinstance(selected, BargainingPoint):
        lottery = [LotteryTerm(outcome=item.row * columns + item.col, row=item.row, col=item.col,
                               probability=float(item.probability)) for item in selected.lottery]
    return NegotiationResult(
        game="bimatrix",
        outcome=found.outcome,
        parties=list(parties),
        rule=found.rule,
        batna=batna,
        payoffs=payoffs,
        gains=gains,
        equilibria=[EquilibriumPoint(row_strategy=[float(p) for p in e.row_strategy],
                                     col_strategy=[float(q) for q in e.col_strategy],
                                     payoffs=[float(v) for v in e.payoffs], found_by=list(e.found_by))
                    for e in found.equilibria],
        candidates=[Candidate(index=s.index, gains=[float(g) for g in s.gains], admissible=s.admissible,
                              welfare={k: float(v) for k, v in s.welfare.items()}, rank=s.rank,
                              lost_because=s.lost_because, reason=s.reason)
                    for s in found.scores],
        selected=found.selected_index if isinstance(selected, Equilibrium) else None,
        strategies=strategies,
        lottery=lottery,
        search=EquilibriumSearch(complete=found.complete, timed_out=found.timed_out, exact=found.exact,
                                 methods=list(found.method), seconds=round(found.seconds, 6)),
        notes=list(found.notes),
    )


def from_joint(found: JointBargaining, *, extra_notes: Sequence[str] = ()) -> NegotiationResult:
    """The n-party joint bargaining in the common shape."""
    return NegotiationResult(
        game="joint",
        outcome=found.outcome,
        parties=list(found.parties),
        rule="nsw",
        batna=dict(found.batna),
        payoffs=found.payoffs,
        gains=found.gains,
        lottery=[LotteryTerm(outcome=k, probability=p) for k, p in found.lottery],
        optimality_gap=found.optimality_gap,
        notes=[found.explanation, *found.notes, *extra_notes],
    )

"""From a dispute to a `NegotiationResult`: the bimatrix game for two parties, Nash
bargaining over joint outcomes for more."""

from __future__ import annotations

from dalrn_core.dispute.model import Dispute
from dalrn_core.negotiation.bargaining import BargainingPoint
from dalrn_core.negotiation.bargaining_joint import JointBargaining, nash_bargaining_joint
from dalrn_core.negotiation.equilibrium import Equilibrium
from dalrn_core.negotiation.result import (
    Candidate,
    EquilibriumPoint,
    EquilibriumSearch,
    LotteryTerm,
    NegotiationResult,
)
from dalrn_core.negotiation.solve import BimatrixSettlement, negotiate


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
    batna = {p.id: p.batna for p in dispute.parties}
    notes = [] if rule == "nsw" else [
        f"rule {rule} applies to two-party games; joint outcomes are settled by Nash bargaining"]
    return from_joint(nash_bargaining_joint(outcomes, batna), extra_notes=notes)


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


def from_joint(found: JointBargaining, *, extra_notes: list[str] = ()) -> NegotiationResult:
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

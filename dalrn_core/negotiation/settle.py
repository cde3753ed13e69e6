"""From a dispute to a negotiation result: the bimatrix game for two parties, Nash
bargaining over joint outcomes for more."""

from __future__ import annotations

from dalrn_core.dispute.model import Dispute
from dalrn_core.negotiation.bargaining_joint import nash_bargaining_joint
from dalrn_core.negotiation.solve import negotiate


def settle(dispute: Dispute, *, rule: str = "nsw", time_limit_s: float = 5.0) -> dict:
    """The negotiation result as JSON (see `NegotiationResult.to_json`)."""
    if dispute.game is not None:
        game = dispute.game
        batna = [dispute.batna_of(game.row_party), dispute.batna_of(game.col_party)]
        result = negotiate(game.row_payoffs, game.col_payoffs, rule=rule, batna=batna,
                           time_limit_s=time_limit_s)
        return result.to_json()
    outcomes = [dict(o.payoffs) for o in dispute.outcomes or []]
    batna = {p.id: p.batna for p in dispute.parties}
    return nash_bargaining_joint(outcomes, batna).to_json()

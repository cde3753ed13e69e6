"""One shape for every negotiation result: the two-party game and n-party joint bargaining.

The two solvers keep their own rich results (`negotiate` returns the bimatrix search with
exact fractions, `nash_bargaining_joint` the Frank-Wolfe certificate); `NegotiationResult`
is what the dispute flow, the memo and the stored record read, so that no reader has to tell
the two apart by probing keys. Payoffs, BATNAs and gains are keyed by party id.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Outcome = Literal["equilibrium", "bargaining", "no_agreement"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EquilibriumPoint(_Frozen):
    """One extreme Nash equilibrium of the game, in (row, column) order."""

    row_strategy: list[float]
    col_strategy: list[float]
    payoffs: list[float]  # (row party, column party)
    found_by: list[str]  # the search methods that found it


class Candidate(_Frozen):
    """An equilibrium as the selection rule saw it: gains over BATNA and welfare."""

    index: int  # into `NegotiationResult.equilibria`
    gains: list[float]  # (row party, column party), payoff minus BATNA
    admissible: bool  # both gains >= 0
    welfare: dict[str, float]  # by rule name
    rank: int | None  # 0 = selected; None when not admissible
    lost_because: str  # why an admissible candidate was not chosen ("" for the chosen one)
    reason: str  # why it is or is not admissible


class LotteryTerm(_Frozen):
    """One outcome of a bargained lottery, with its probability (> 0)."""

    outcome: int  # index into the dispute's outcomes; for a game, row * columns + col
    probability: float
    row: int | None = None  # the game cell, for a two-party game
    col: int | None = None


class EquilibriumSearch(_Frozen):
    """What the equilibrium search of a two-party game established."""

    complete: bool  # a complete enumeration finished: these are all extreme equilibria
    timed_out: bool  # the hard time limit stopped the search
    exact: bool  # verified in rational arithmetic
    methods: list[str]  # the phases that ran to completion
    seconds: float


class NegotiationResult(_Frozen):
    """The negotiation's outcome, settlement and the evidence for it.

    ``outcome`` is ``equilibrium`` (an equilibrium chosen by ``rule`` among those giving
    every party at least its BATNA), ``bargaining`` (the Nash bargaining solution over
    lotteries of outcomes) or ``no_agreement`` (no lottery gives every party more than its
    BATNA; ``payoffs`` and ``gains`` are then ``None``). ``equilibria``, ``candidates`` and
    ``search`` are empty / ``None`` for n-party joint bargaining, which searches no game.
    """

    game: Literal["bimatrix", "joint"]
    outcome: Outcome
    parties: list[str]
    rule: str
    batna: dict[str, float]
    payoffs: dict[str, float] | None  # the settlement's payoff per party
    gains: dict[str, float] | None  # payoff minus BATNA per party
    equilibria: list[EquilibriumPoint] = []
    candidates: list[Candidate] = []
    selected: int | None = None  # index into `equilibria` when outcome is equilibrium
    strategies: dict[str, list[float]] | None = None  # the selected equilibrium, per party
    lottery: list[LotteryTerm] = []  # the bargained lottery when outcome is bargaining
    search: EquilibriumSearch | None = None
    optimality_gap: float | None = None  # joint bargaining's Frank-Wolfe certificate
    notes: list[str] = []

    @property
    def reproducible(self) -> bool:
        """Whether the same inputs and code give this result again.

        False when the equilibrium search was cut short (time limit, solver crash, a failed
        enumeration): what it found then depends on the machine's speed and load, so the
        result must not be reused for a later run.
        """
        return self.search is None or (self.search.complete and not self.search.timed_out)

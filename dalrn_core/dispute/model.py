"""The dispute a firm submits: parties, evidence, the game, BATNAs and a deadline.

Two parties negotiate over a bimatrix game (each party's strategies and payoff matrix);
three or more over joint outcomes that give each party a payoff. Every party states its
BATNA, what it gets with no deal. Validation names the field and the rule it broke.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    model_serializer,
    model_validator,
)

Identifier = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]

MAX_EVIDENCE_CHARS = 20_000
MAX_EVIDENCE_DOCUMENTS = 50
MAX_PARTIES = 10
MAX_STRATEGIES = 25
MAX_OUTCOMES = 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class Party(_Strict):
    id: Identifier
    name: Label
    batna: float = Field(description="payoff this party gets with no deal")
    claim: str = Field(default="", max_length=2_000)
    tenant: Identifier | None = Field(default=None, description="the party's DALRN tenant, when it has one")


# CIDv1, raw, sha2-256, base32 (`dalrn_core.evidence.cid`): "b" and 58 base32 characters.
CiphertextCid = Annotated[str, StringConstraints(pattern=r"^b[a-z2-7]{58}$")]


class Evidence(_Strict):
    """An evidence item: public (its `text`) or confidential (only its envelope's CID).

    A confidential item's text was encrypted in its tenant's process
    (`dalrn_core.evidence.envelope`) and uploaded as a ciphertext; the server holds only
    `ciphertext_cid` and never the text. A public item serialises exactly as before
    confidential items existed, so its dispute keeps its CID.
    """

    id: Identifier
    party: Identifier
    title: Label
    text: str | None = Field(default=None, max_length=MAX_EVIDENCE_CHARS)
    confidential: bool = Field(default=False, description="true: only the envelope's CID, never the text")
    ciphertext_cid: CiphertextCid | None = Field(
        default=None, description="CID of the item's encrypted envelope (confidential items only)")

    @model_validator(mode="after")
    def _text_or_ciphertext(self) -> Evidence:
        if self.confidential:
            if self.text is not None:
                raise ValueError("text: a confidential item carries no text; encrypt it on your side "
                                 "(dalrn submit does) and send only ciphertext_cid")
            if self.ciphertext_cid is None:
                raise ValueError("ciphertext_cid: a confidential item needs the CID of its encrypted envelope")
            return self
        if self.ciphertext_cid is not None:
            raise ValueError("ciphertext_cid: only a confidential item has one (set confidential: true)")
        if self.text is None or not self.text.strip():
            raise ValueError("text: must not be empty")
        return self

    @model_serializer(mode="wrap")
    def _what_it_holds(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.confidential:
            data.pop("text", None)
        else:
            data.pop("confidential", None)
            data.pop("ciphertext_cid", None)
        return data


Payoffs = list[list[float]]


class BimatrixGame(_Strict):
    row_party: Identifier
    col_party: Identifier
    row_strategies: list[Label] = Field(min_length=1, max_length=MAX_STRATEGIES)
    col_strategies: list[Label] = Field(min_length=1, max_length=MAX_STRATEGIES)
    row_payoffs: Payoffs
    col_payoffs: Payoffs

    @model_validator(mode="after")
    def _shapes(self) -> BimatrixGame:
        rows, cols = len(self.row_strategies), len(self.col_strategies)
        for name in ("row_payoffs", "col_payoffs"):
            matrix = getattr(self, name)
            if len(matrix) != rows:
                raise ValueError(f"{name}: has {len(matrix)} rows, expected {rows} (one per row strategy)")
            for i, row in enumerate(matrix):
                if len(row) != cols:
                    raise ValueError(f"{name}[{i}]: has {len(row)} entries, expected {cols} (one per column strategy)")
        if self.row_party == self.col_party:
            raise ValueError("col_party: must differ from row_party")
        return self


class JointOutcome(_Strict):
    label: Label
    payoffs: dict[Identifier, float]


class Dispute(_Strict):
    id: Identifier
    tenant: Identifier
    title: Label
    parties: list[Party] = Field(min_length=2, max_length=MAX_PARTIES)
    evidence: list[Evidence] = Field(min_length=1, max_length=MAX_EVIDENCE_DOCUMENTS)
    game: BimatrixGame | None = None
    outcomes: list[JointOutcome] | None = Field(default=None, min_length=1, max_length=MAX_OUTCOMES)
    deadline: AwareDatetime

    @model_validator(mode="after")
    def _consistent(self) -> Dispute:
        ids = [p.id for p in self.parties]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"parties: duplicate party id {duplicates[0]!r}")
        known = set(ids)
        for i, doc in enumerate(self.evidence):
            if doc.party not in known:
                raise ValueError(f"evidence[{i}].party: unknown party {doc.party!r}")
        doc_ids = [d.id for d in self.evidence]
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("evidence: duplicate evidence id")
        if len(self.parties) == 2:
            self._check_game(known)
        else:
            self._check_outcomes(known)
        return self

    def _check_game(self, known: set[str]) -> None:
        if self.game is None:
            raise ValueError("game: a two-party dispute needs a bimatrix game")
        if self.outcomes is not None:
            raise ValueError("outcomes: a two-party dispute uses 'game', not joint outcomes")
        for field in ("row_party", "col_party"):
            party = getattr(self.game, field)
            if party not in known:
                raise ValueError(f"game.{field}: unknown party {party!r}")

    def _check_outcomes(self, known: set[str]) -> None:
        if self.game is not None:
            raise ValueError("game: a bimatrix game has two players; use 'outcomes' for more parties")
        if not self.outcomes:
            raise ValueError("outcomes: a dispute of three or more parties needs joint outcomes")
        for i, outcome in enumerate(self.outcomes):
            missing = sorted(known - set(outcome.payoffs))
            extra = sorted(set(outcome.payoffs) - known)
            if extra:
                raise ValueError(f"outcomes[{i}].payoffs: unknown party {extra[0]!r}")
            if missing:
                raise ValueError(f"outcomes[{i}].payoffs: no payoff for party {missing[0]!r}")

    @property
    def party_ids(self) -> list[str]:
        return [p.id for p in self.parties]

    @property
    def is_joint(self) -> bool:
        """Whether a party names a tenant other than the submitter's: it then submits its own side."""
        return any(p.tenant not in (None, self.tenant) for p in self.parties)

    def batna_of(self, party: str) -> float:
        return next(p.batna for p in self.parties if p.id == party)

    def is_past_deadline(self, now: datetime) -> bool:
        return now >= self.deadline

"""Each party's own side of a joint dispute, and the structure every party shares.

A filing is *joint* when it names, for some party, a DALRN tenant other than the one
submitting it. Then no tenant writes another's inputs: the opener files the shared
structure (`SharedDispute`: id, title, parties, the game's strategy labels or the joint
outcomes' labels, deadline) with its own side, and each other party joins with its own
`PartySide` (BATNA, payoffs, claim, evidence). `assemble` puts the sides back into one
`Dispute` for the negotiation; `split_dispute` takes a whole dispute apart into what each
side owns.

A side carries a salted commitment to its private inputs::

    commitment = sha256(salt || RFC 8785 JSON of {"party", "batna", "payoffs"})

The salt is 32 random bytes chosen by the party's own client and kept on its side, so the
party can later prove which input the negotiation used, while the counterparty, who sees
only the hash, cannot try every small BATNA until one matches.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, StringConstraints, ValidationError, model_validator

from dalrn_core.dispute.model import (
    MAX_EVIDENCE_DOCUMENTS,
    MAX_OUTCOMES,
    MAX_PARTIES,
    MAX_STRATEGIES,
    Dispute,
    Evidence,
    Identifier,
    Label,
    _Strict,
)
from dalrn_core.dispute.parse import _problems
from dalrn_core.errors import InputError, Problem
from dalrn_core.podp.canonical import canonical_bytes

SALT_BYTES = 32
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# A bimatrix side: its own matrix, [row strategy][column strategy]. A joint-outcome side: its
# payoff per outcome label.
SidePayoffs = list[list[float]] | dict[Label, float]


class SharedParty(_Strict):
    """A party as every side sees it: no BATNA, no claim."""

    id: Identifier
    name: Label
    tenant: Identifier | None = None


class GameShape(_Strict):
    """A bimatrix game without payoffs: who plays rows and columns, and the strategy labels."""

    row_party: Identifier
    col_party: Identifier
    row_strategies: list[Label] = Field(min_length=1, max_length=MAX_STRATEGIES)
    col_strategies: list[Label] = Field(min_length=1, max_length=MAX_STRATEGIES)

    @model_validator(mode="after")
    def _two_players(self) -> GameShape:
        if self.row_party == self.col_party:
            raise ValueError("col_party: must differ from row_party")
        return self


class SharedDispute(_Strict):
    """What every party of a joint dispute sees and agrees to before giving its side."""

    id: Identifier
    tenant: Identifier
    title: Label
    parties: list[SharedParty] = Field(min_length=2, max_length=MAX_PARTIES)
    game: GameShape | None = None
    outcomes: list[Label] | None = Field(default=None, min_length=1, max_length=MAX_OUTCOMES)
    deadline: AwareDatetime

    @model_validator(mode="after")
    def _consistent(self) -> SharedDispute:
        ids = [p.id for p in self.parties]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"parties: duplicate party id {duplicates[0]!r}")
        if len(self.parties) == 2:
            if self.game is None:
                raise ValueError("game: a two-party dispute needs the game's strategies")
            if self.outcomes is not None:
                raise ValueError("outcomes: a two-party dispute uses 'game', not joint outcomes")
            for field in ("row_party", "col_party"):
                if getattr(self.game, field) not in ids:
                    raise ValueError(f"game.{field}: unknown party {getattr(self.game, field)!r}")
        else:
            if self.game is not None:
                raise ValueError("game: a bimatrix game has two players; use 'outcomes' for more parties")
            if not self.outcomes:
                raise ValueError("outcomes: a dispute of three or more parties needs joint outcome labels")
            seen: set[str] = set()
            for i, label in enumerate(self.outcomes):
                if label in seen:
                    raise ValueError(f"outcomes[{i}]: duplicate label {label!r} (each side's payoffs "
                                     "are keyed by label)")
                seen.add(label)
        return self

    @property
    def party_ids(self) -> list[str]:
        return [p.id for p in self.parties]

    def party(self, party_id: str) -> SharedParty | None:
        return next((p for p in self.parties if p.id == party_id), None)

    @property
    def is_joint(self) -> bool:
        return any(p.tenant not in (None, self.tenant) for p in self.parties)


class PartySide(_Strict):
    """One party's own inputs, with the salted commitment to the private ones."""

    party: Identifier
    batna: float = Field(description="payoff this party gets with no deal")
    payoffs: SidePayoffs
    claim: str = Field(default="", max_length=2_000)
    evidence: list[Evidence] = Field(default_factory=list, max_length=MAX_EVIDENCE_DOCUMENTS)
    salt: Hex64 = Field(description="32 random bytes (hex) chosen by the party's client")
    commitment: Hex64 = Field(description="sha256(salt || RFC 8785 JSON of {party, batna, payoffs})")

    @model_validator(mode="after")
    def _own_evidence(self) -> PartySide:
        for i, doc in enumerate(self.evidence):
            if doc.party != self.party:
                raise ValueError(f"evidence[{i}].party: a side holds only its own party's evidence "
                                 f"({self.party!r}), not {doc.party!r}")
        ids = [d.id for d in self.evidence]
        if len(set(ids)) != len(ids):
            raise ValueError("evidence: duplicate evidence id")
        return self

    @classmethod
    def commit(cls, *, party: str, batna: float, payoffs: Any, claim: str = "",
               evidence: list[Evidence] | list[dict[str, Any]] | None = None,
               salt: str | None = None) -> PartySide:
        """A side for these inputs, committed under `salt` (a fresh random one by default)."""
        salt = salt if salt is not None else secrets.token_hex(SALT_BYTES)
        unset = "0" * 64  # the inputs are validated first, then committed as the model holds them
        draft = parse_side({"party": party, "batna": batna, "payoffs": payoffs, "claim": claim,
                            "evidence": evidence or [], "salt": salt, "commitment": unset})
        return draft.model_copy(update={
            "commitment": commitment_of(draft.salt, draft.party, draft.batna, draft.payoffs)})

    def committed_inputs(self) -> dict[str, Any]:
        return {"party": self.party, "batna": self.batna, "payoffs": self.payoffs}


class JointOpening(SharedDispute):
    """What the opener of a joint dispute files: the shared structure and its own side."""

    side: PartySide


def commitment_of(salt: str, party: str, batna: float, payoffs: Any) -> str:
    """sha256(salt bytes || RFC 8785 JSON of {party, batna, payoffs}), hex."""
    try:
        salt_bytes = bytes.fromhex(salt)
    except ValueError:
        raise ValueError(f"salt: must be {SALT_BYTES} bytes in hex") from None
    if len(salt_bytes) != SALT_BYTES:
        raise ValueError(f"salt: must be {SALT_BYTES} bytes in hex, got {len(salt_bytes)}")
    payload = canonical_bytes({"party": party, "batna": float(batna), "payoffs": _plain(payoffs)})
    return hashlib.sha256(salt_bytes + payload).hexdigest()


def _plain(payoffs: Any) -> Any:
    """Payoffs as floats, so 6 and 6.0 commit alike (the model holds floats)."""
    if isinstance(payoffs, Mapping):
        return {str(k): float(v) for k, v in payoffs.items()}
    return [[float(x) for x in row] for row in payoffs]


def verify_commitment(side: PartySide) -> bool:
    """Whether the side's commitment is that of its salt and inputs."""
    return commitment_of(side.salt, side.party, side.batna, side.payoffs) == side.commitment


def _validated(model: type[_Strict], data: Any, subject: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(_problems(exc), subject=subject) from None


def parse_side(data: Any) -> PartySide:
    """A side from JSON-ready data; InputError naming each field otherwise."""
    side: PartySide = _validated(PartySide, data, "side")
    return side


def parse_shared(data: Any) -> SharedDispute:
    shared: SharedDispute = _validated(SharedDispute, data, "dispute")
    return shared


def parse_opening(data: Any) -> JointOpening:
    opening: JointOpening = _validated(JointOpening, data, "dispute")
    return opening


def shared_part(opening: SharedDispute) -> SharedDispute:
    """The shared structure alone (an opening without its side)."""
    return SharedDispute.model_validate(opening.model_dump(exclude={"side"}))


def side_problems(shared: SharedDispute, side: PartySide, *, field: str = "") -> list[Problem]:
    """What makes `side` not fit `shared`: an unknown party, payoffs of the wrong shape."""
    prefix = f"{field}." if field else ""
    if shared.party(side.party) is None:
        return [Problem(f"{prefix}party", f"{side.party!r} is not a party of dispute {shared.id}")]
    if shared.game is not None:
        game = shared.game
        if side.party not in (game.row_party, game.col_party):
            return [Problem(f"{prefix}party", f"{side.party!r} plays no role in the game")]
        rows, cols = len(game.row_strategies), len(game.col_strategies)
        if not isinstance(side.payoffs, list):
            return [Problem(f"{prefix}payoffs", f"must be a {rows}x{cols} matrix (one row per row "
                                                "strategy, one entry per column strategy)")]
        if len(side.payoffs) != rows:
            return [Problem(f"{prefix}payoffs", f"has {len(side.payoffs)} rows, expected {rows} "
                                                "(one per row strategy)")]
        return [Problem(f"{prefix}payoffs[{i}]", f"has {len(row)} entries, expected {cols} "
                                                 "(one per column strategy)")
                for i, row in enumerate(side.payoffs) if len(row) != cols]
    labels = shared.outcomes or []
    if not isinstance(side.payoffs, dict):
        return [Problem(f"{prefix}payoffs", "must map each outcome label to this party's payoff")]
    missing = [label for label in labels if label not in side.payoffs]
    extra = sorted(set(side.payoffs) - set(labels))
    if extra:
        return [Problem(f"{prefix}payoffs", f"unknown outcome {extra[0]!r}")]
    if missing:
        return [Problem(f"{prefix}payoffs", f"no payoff for outcome {missing[0]!r}")]
    return []


def check_side(shared: SharedDispute, side: PartySide, *, field: str = "") -> None:
    """Raise InputError unless `side` fits `shared` and its commitment holds."""
    prefix = f"{field}." if field else ""
    problems = side_problems(shared, side, field=field)
    if not problems and not verify_commitment(side):
        problems = [Problem(f"{prefix}commitment", "does not match sha256(salt || RFC 8785 JSON of "
                                                   "{party, batna, payoffs})")]
    if problems:
        raise InputError(problems, subject="side")


def assemble(shared: SharedDispute, sides: Mapping[str, PartySide]) -> Dispute:
    """The whole dispute from the shared structure and one side per party.

    Every side must fit the structure and hold to its commitment; the result is validated by
    `Dispute` itself, so a problem names its field (`sides.globex.payoffs[1]`, `evidence`).
    Evidence comes in party order, each side's in its own order.
    """
    problems = [Problem(f"sides.{p}", "is not a party of this dispute")
                for p in sides if shared.party(p) is None]
    problems += [Problem("sides", f"no side for party {p!r}") for p in shared.party_ids if p not in sides]
    if problems:
        raise InputError(problems, subject="dispute")
    for key, side in sides.items():
        if side.party != key:
            raise InputError.one(f"sides.{key}.party", f"is {side.party!r}, expected {key!r}",
                                 subject="dispute")
        check_side(shared, side, field=f"sides.{key}")
    data: dict[str, Any] = {
        "id": shared.id, "tenant": shared.tenant, "title": shared.title, "deadline": shared.deadline,
        "parties": [_whole_party(p, sides[p.id]) for p in shared.parties],
        "evidence": [doc.model_dump() for p in shared.parties for doc in sides[p.id].evidence],
    }
    if shared.game is not None:
        game = shared.game
        data["game"] = {**game.model_dump(), "row_payoffs": sides[game.row_party].payoffs,
                        "col_payoffs": sides[game.col_party].payoffs}
    else:
        data["outcomes"] = [{"label": label, "payoffs": {p: _label_payoff(sides[p], label)
                                                         for p in shared.party_ids}}
                            for label in shared.outcomes or []]
    dispute: Dispute = _validated(Dispute, data, "dispute")
    return dispute


def _whole_party(party: SharedParty, side: PartySide) -> dict[str, Any]:
    whole: dict[str, Any] = {"id": party.id, "name": party.name, "batna": side.batna, "claim": side.claim}
    if party.tenant is not None:
        whole["tenant"] = party.tenant
    return whole


def _label_payoff(side: PartySide, label: str) -> float:
    assert isinstance(side.payoffs, dict)  # checked by check_side
    return side.payoffs[label]


def split_dispute(dispute: Dispute, *, salts: Mapping[str, str] | None = None
                  ) -> tuple[SharedDispute, dict[str, PartySide]]:
    """The shared structure of `dispute` and each party's side (salted, committed).

    `salts` fixes a party's salt (hex); others get fresh random ones.
    """
    salts = salts or {}
    shared_data: dict[str, Any] = {
        "id": dispute.id, "tenant": dispute.tenant, "title": dispute.title, "deadline": dispute.deadline,
        "parties": [{"id": p.id, "name": p.name, **({"tenant": p.tenant} if p.tenant else {})}
                    for p in dispute.parties],
    }
    if dispute.game is not None:
        game = dispute.game
        shared_data["game"] = {"row_party": game.row_party, "col_party": game.col_party,
                               "row_strategies": game.row_strategies, "col_strategies": game.col_strategies}
    else:
        shared_data["outcomes"] = [o.label for o in dispute.outcomes or []]
    shared = parse_shared(shared_data)
    sides = {}
    for party in dispute.parties:
        payoffs: SidePayoffs
        if dispute.game is not None:
            own = dispute.game.row_payoffs if party.id == dispute.game.row_party else dispute.game.col_payoffs
            payoffs = [list(row) for row in own]
        else:
            payoffs = {o.label: o.payoffs[party.id] for o in dispute.outcomes or []}
        sides[party.id] = PartySide.commit(
            party=party.id, batna=party.batna, payoffs=payoffs, claim=party.claim,
            evidence=[doc for doc in dispute.evidence if doc.party == party.id], salt=salts.get(party.id))
    return shared, sides


def check_joint_opening(opening: SharedDispute, side: PartySide, submitter: str) -> None:
    """The rules of a joint filing beyond its shape, for the tenant `submitter` opening it.

    Every party names its tenant, no tenant speaks for two parties, and the opener's side is
    that of the party naming the opener's tenant.
    """
    problems = [Problem(f"parties[{i}].tenant", "a joint filing names every party's tenant")
                for i, p in enumerate(opening.parties) if p.tenant is None]
    seen: set[str] = set()
    for i, p in enumerate(opening.parties):
        if p.tenant in seen:
            problems.append(Problem(f"parties[{i}].tenant", f"tenant {p.tenant!r} is named for two "
                                                            "parties; in a joint filing each tenant "
                                                            "submits one side"))
        if p.tenant is not None:
            seen.add(p.tenant)
    own = [p for p in opening.parties if p.tenant == submitter]
    if not problems and not own:
        problems.append(Problem("parties", f"no party names your tenant {submitter!r}: the opener "
                                           "files its own side"))
    elif not problems and side.party != own[0].id:
        problems.append(Problem("side.party", f"is {side.party!r}, but your tenant {submitter!r} is "
                                              f"party {own[0].id!r}: file only your own side"))
    if problems:
        raise InputError(problems, subject="dispute")
    check_side(opening, side, field="side")

"""What each stage of the dispute flow hands the next, as typed models.

The dispute is parsed once, at intake; later stages take the `Intake` (which carries the
validated `Dispute`). Every stage model says what its receipt commits to
(`receipt_fields`), so `podp.trail.Trail.record` can sign it without a hand-built dict.
`Resolution` is what the flow returns (`model_dump(mode="json")` for the CLI's `--json`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from dalrn_core.dispute.model import Dispute
from dalrn_core.dispute.records import chain_key
from dalrn_core.dispute.sides import SharedDispute
from dalrn_core.negotiation.result import NegotiationResult
from dalrn_core.podp.anchoring import AnchorOutcome
from dalrn_core.podp.canonical import digest_of
from dalrn_core.search.precedents import PrecedentHits, PrecedentSearchRequest
from dalrn_core.soan.routing import MediatorRoute

__all__ = ["AnchorOutcome", "Embedding", "EncryptedSearch", "Intake", "LapsedIntake", "MediatorRoute",
           "Memo", "Negotiation", "PrecedentHits", "Resolution"]

Fields = dict[str, dict[str, Any]]


class _Stage(BaseModel):
    model_config = ConfigDict(frozen=True)


class Intake(_Stage):
    """The validated dispute, who submitted it, and where its bytes are stored."""

    dispute: Dispute
    submitted_digest: str  # sha256 of the submission as received, before parsing
    dispute_cid: str
    evidence_cids: dict[str, str]
    tenant: str | None = None  # the gateway's authenticated tenant; None for the CLI
    # A joint filing: each party's side by its salted commitment (`dispute_cid` then holds the
    # shared structure and these, never a BATNA or payoff).
    commitments: dict[str, str] | None = None

    @property
    def chain_id(self) -> str:
        """The receipt chain: the dispute id, scoped to the tenant when one submitted it."""
        return chain_key(self.tenant, self.dispute.id)

    @property
    def joint(self) -> bool:
        return self.commitments is not None

    @property
    def evidence_ids(self) -> list[str]:
        return [doc.id for doc in self.dispute.evidence]

    @property
    def readable_ids(self) -> list[str]:
        """The evidence the server may read (public items), in order: what `texts` holds."""
        return [doc.id for doc in self.dispute.evidence if doc.text is not None]

    @property
    def texts(self) -> list[str]:
        """The public evidence texts; a confidential item has no text here, only its ciphertext CID."""
        return [doc.text for doc in self.dispute.evidence if doc.text is not None]

    @property
    def claims(self) -> list[str]:
        """Each party's claim that says something, in party order: the server reads every claim."""
        return [p.claim for p in self.dispute.parties if p.claim.strip()]

    def receipt_fields(self) -> Fields:
        outputs: dict[str, Any] = {"dispute_cid": self.dispute_cid, "evidence_cids": self.evidence_cids}
        if self.commitments is not None:
            outputs["commitments"] = self.commitments
        return {"inputs": {"dispute": self.submitted_digest}, "outputs": outputs}


class LapsedIntake(_Stage):
    """A joint dispute some party did not join by its deadline: the shared structure and the
    sides that were filed (by commitment and sealed CID), and who is missing."""

    shared: SharedDispute
    submitted_digest: str
    dispute_cid: str
    tenant: str
    commitments: dict[str, str]  # the sides present
    sealed_cids: dict[str, str]
    absent: list[str]

    @property
    def chain_id(self) -> str:
        return chain_key(self.tenant, self.shared.id)

    @property
    def reason(self) -> str:
        deadline = self.shared.deadline.isoformat().replace("+00:00", "Z")
        return "; ".join(f"party {p} did not join by {deadline}" for p in self.absent)

    def receipt_fields(self) -> Fields:
        return {"inputs": {"dispute": self.submitted_digest},
                "outputs": {"dispute_cid": self.dispute_cid, "commitments": self.commitments,
                            "sealed_sides": self.sealed_cids, "absent_parties": self.absent}}


class Embedding(_Stage):
    """One L2-normalised vector per text the server may read, by the named model: the public
    evidence (`vectors`, in `Intake.readable_ids` order) and the claims (`claim_vectors`).
    Its receipt commits to exactly those texts, so it shows that no confidential text was embedded."""

    model: str
    texts_digest: str
    vectors: list[list[float]]
    claims_digest: str
    claim_vectors: list[list[float]]

    def receipt_fields(self) -> Fields:
        return {"inputs": {"evidence": self.texts_digest, "claims": self.claims_digest},
                "params": {"model": self.model},
                "outputs": {"embeddings": digest_of(self.vectors), "claim_embeddings": digest_of(self.claim_vectors)}}


class EncryptedSearch(_Stage):
    """The tenant's encrypted query scored against the index: ciphertexts by CID."""

    request: PrecedentSearchRequest
    index_cid: str
    score_cids: list[str]
    documents: int

    def receipt_fields(self) -> Fields:
        return {"inputs": {"context": self.request.context_cid, "query": self.request.query_cid},
                "params": {"index": self.index_cid, "key_id": self.request.key_id},
                "outputs": {"score_cids": self.score_cids, "index_cid": self.index_cid,
                            "documents": self.documents}}


class Negotiation(_Stage):
    """The settlement by `rule` of the dispute stored under `dispute_cid`."""

    rule: str
    dispute_cid: str
    result: NegotiationResult
    reason: str | None = None  # why there was nothing to negotiate (a party did not join)

    def receipt_fields(self) -> Fields:
        outputs: dict[str, Any] = {"result": digest_of(self.result.model_dump(mode="json"))}
        if self.reason is not None:
            outputs.update(outcome=self.result.outcome, reason=self.reason)
        return {"inputs": {"dispute": self.dispute_cid}, "params": {"rule": self.rule}, "outputs": outputs}


class Memo(_Stage):
    """The stored settlement memo (JSON and Markdown) and its influence diagram."""

    memo_cid: str
    memo_markdown_cid: str
    diagram_cid: str | None  # None when nothing was negotiated (a joint dispute that lapsed)
    settlement: dict[str, Any]

    def receipt_fields(self) -> Fields:
        return {"outputs": self.model_dump(mode="json", exclude_none=True)}


class Resolution(_Stage):
    """What a resolved dispute returns: the keys `dalrn resolve --json` prints."""

    dispute_id: str
    chain_id: str  # the receipt chain (and record) of this resolution
    settlement: dict[str, Any]
    negotiation: dict[str, Any]
    memo_cid: str
    memo_markdown_cid: str
    merkle_root: str | None
    tx_hash: str | None
    anchor_status: str
    mediator: int | None  # None when no mediator was needed (a joint dispute that lapsed)
    precedents: list[str]
    receipts: list[str]
    stage_seconds: dict[str, float]

    @classmethod
    def of(cls, *, intake: Intake, route: MediatorRoute, hits: PrecedentHits, negotiation: Negotiation,
           memo: Memo, anchor: AnchorOutcome, receipts: list[str],
           stage_seconds: dict[str, float]) -> Resolution:
        return cls(dispute_id=intake.dispute.id, chain_id=intake.chain_id, settlement=memo.settlement,
                   negotiation=_negotiation_json(negotiation, joint=intake.joint),
                   memo_cid=memo.memo_cid, memo_markdown_cid=memo.memo_markdown_cid,
                   merkle_root=anchor.root, tx_hash=anchor.tx_hash, anchor_status=anchor.status,
                   mediator=route.agent, precedents=hits.ids, receipts=list(receipts),
                   stage_seconds=dict(stage_seconds))

    @classmethod
    def lapsed(cls, *, intake: LapsedIntake, negotiation: Negotiation, memo: Memo, anchor: AnchorOutcome,
               receipts: list[str], stage_seconds: dict[str, float]) -> Resolution:
        return cls(dispute_id=intake.shared.id, chain_id=intake.chain_id, settlement=memo.settlement,
                   negotiation=_negotiation_json(negotiation, joint=True), memo_cid=memo.memo_cid,
                   memo_markdown_cid=memo.memo_markdown_cid, merkle_root=anchor.root, tx_hash=anchor.tx_hash,
                   anchor_status=anchor.status, mediator=None, precedents=[], receipts=list(receipts),
                   stage_seconds=dict(stage_seconds))


def _negotiation_json(negotiation: Negotiation, *, joint: bool) -> dict[str, Any]:
    """The negotiation as a run returns it: in a joint filing without any party's private values."""
    if not joint:
        return negotiation.result.model_dump(mode="json")
    from dalrn_core.explain.party_view import public_negotiation

    return public_negotiation(negotiation.result, reason=negotiation.reason)

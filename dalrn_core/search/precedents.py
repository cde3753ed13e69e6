"""The precedents a tenant revealed: their text, license and CID, and which of them each
piece of evidence is closest to.

The tenant chose these from its own decryption of the encrypted scores; nothing here
ranks the corpus again. Relevance is the cosine similarity of each evidence embedding to
each revealed precedent's indexed vector.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dalrn_core.errors import InputError
from dalrn_core.evidence.store import ContentStore
from dalrn_core.explain.relevance import evidence_relevance
from dalrn_core.search.corpus import load_precedents
from dalrn_core.search.index import PrecedentIndex


class PrecedentSearchRequest(BaseModel):
    """What the tenant sends: public bytes only, by CID."""

    tenant: str
    key_id: str
    context_cid: str
    query_cid: str
    k: int = Field(default=5, ge=1, le=50)


class RevealedPrecedent(BaseModel):
    precedent_id: str
    score: float


class PrecedentHit(BaseModel):
    model_config = ConfigDict(frozen=True)

    precedent_id: str
    score: float
    license_name: str
    cid: str
    excerpt: str


class Closeness(BaseModel):
    model_config = ConfigDict(frozen=True)

    precedent_id: str
    similarity: float


class PrecedentHits(BaseModel):
    """The revealed precedents, best first, and each evidence id's closest ones."""

    model_config = ConfigDict(frozen=True)

    index_cid: str
    precedents: list[PrecedentHit] = []
    relevance: dict[str, list[Closeness]] = {}

    @property
    def ids(self) -> list[str]:
        return [h.precedent_id for h in self.precedents]

    def receipt_fields(self) -> dict[str, dict[str, Any]]:
        return {"params": {"index": self.index_cid},
                "outputs": {"revealed": [h.cid for h in self.precedents]}}


def latest_index_cid() -> str:
    """The CID of the latest precedent index; a clear error when none was built yet."""
    index = PrecedentIndex.latest()
    if index is None:
        raise RuntimeError("no precedent index yet: run `dalrn index build` (the build_index flow)")
    assert index.cid is not None  # a loaded index always carries the CID it was loaded by
    return index.cid


def describe_revealed(revealed: list[RevealedPrecedent], index_cid: str, evidence_ids: list[str],
                      evidence_vectors: list[list[float]], store: ContentStore) -> PrecedentHits:
    """The revealed precedents with text and CID (stored), and evidence-to-precedent relevance."""
    index = PrecedentIndex.load(index_cid)
    positions = {pid: i for i, pid in enumerate(index.ids)}
    for k, hit in enumerate(revealed):
        if hit.precedent_id not in positions:
            raise InputError.one(f"revealed[{k}].precedent_id",
                                 f"{hit.precedent_id!r} is not in index {index_cid[:16]}...")
    hits = []
    if revealed:  # the corpus is read only when there is something to describe
        corpus = load_precedents().set_index("precedent_id")
        for hit in revealed:
            row = corpus.loc[hit.precedent_id]
            hits.append(PrecedentHit(precedent_id=hit.precedent_id, score=hit.score,
                                     license_name=row["license_name"],
                                     cid=store.put(row["text"].encode()), excerpt=row["text"][:240]))
    chosen = [h.precedent_id for h in hits]
    closest = evidence_relevance(
        evidence_ids, evidence_vectors, chosen, index.vectors[[positions[p] for p in chosen]]
    ) if chosen else {}
    relevance = {evidence_id: [Closeness(**c) for c in near] for evidence_id, near in closest.items()}
    return PrecedentHits(index_cid=index_cid, precedents=hits, relevance=relevance)

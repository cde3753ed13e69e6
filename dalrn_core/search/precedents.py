"""The precedents a tenant revealed: their text, license and CID, and which of them each
piece of evidence is closest to.

The tenant chose these from its own decryption of the encrypted scores; nothing here
ranks the corpus again. Relevance is the cosine similarity of each evidence embedding to
each revealed precedent's indexed vector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dalrn_core.errors import InputError, Problem
from dalrn_core.evidence.store import ContentStore
from dalrn_core.explain.relevance import evidence_relevance
from dalrn_core.search.corpus import precedents_by_id
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


# A revealed score is the tenant's decryption of a cosine similarity of unit vectors: CKKS
# decoding error (about 1e-7 at scale 2^40) and float32 rounding stay far inside this.
COSINE_TOLERANCE = 1e-3


def check_revealed(revealed: Sequence[RevealedPrecedent], index: PrecedentIndex,
                   k: int | None = None) -> list[RevealedPrecedent]:
    """The tenant's reveal, refused unless every precedent can be used as it says.

    Rules: at most `k` precedents (the search's `k`; no limit when None); each id in
    `index` and named once; each score a finite number in the cosine range [-1, 1] give or
    take `COSINE_TOLERANCE`. Every broken rule is reported at once, each naming its field
    (``precedents[i].score``, as in the tenant's answer).

    Returns
    -------
    list of RevealedPrecedent
        `revealed`, unchanged, when it breaks no rule.

    Raises
    ------
    InputError
        Naming each broken rule.
    """
    problems: list[Problem] = []
    if k is not None and len(revealed) > k:
        problems.append(Problem("precedents", f"holds {len(revealed)} precedents; the search "
                                              f"asked for at most k={k}"))
    known, first = set(index.ids), dict[str, int]()  # first: id -> where it was first named
    label = (index.cid or "in memory")[:16]
    for i, hit in enumerate(revealed):
        field = f"precedents[{i}]"
        if hit.precedent_id not in known:
            problems.append(Problem(f"{field}.precedent_id",
                                    f"{hit.precedent_id!r} is not in index {label}..."))
        elif hit.precedent_id in first:
            problems.append(Problem(f"{field}.precedent_id", f"{hit.precedent_id!r} repeats "
                                    f"precedents[{first[hit.precedent_id]}]; name each once"))
        else:
            first[hit.precedent_id] = i
        if not math.isfinite(hit.score):
            problems.append(Problem(f"{field}.score", f"must be a finite number, got {hit.score}"))
        elif abs(hit.score) > 1.0 + COSINE_TOLERANCE:
            problems.append(Problem(f"{field}.score", f"must be a cosine similarity in [-1, 1] "
                                    f"(tolerance {COSINE_TOLERANCE:g}), got {hit.score:g}"))
    if problems:
        raise InputError(problems, subject="tenant reveal")
    return list(revealed)


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
    index = PrecedentIndex.open(index_cid)
    check_revealed(revealed, index)  # the count against k is checked where k is known
    positions = {pid: i for i, pid in enumerate(index.ids)}
    hits = []
    if revealed:  # the corpus is read only when there is something to describe
        corpus = precedents_by_id()
        for hit in revealed:
            row = corpus.loc[hit.precedent_id]
            hits.append(PrecedentHit(precedent_id=hit.precedent_id, score=hit.score,
                                     license_name=row["license_name"],
                                     cid=store.put(row["text"].encode()), excerpt=row["text"][:240]))
    chosen = [h.precedent_id for h in hits]
    closest = evidence_relevance(
        evidence_ids, evidence_vectors, chosen, index.vectors[[positions[p] for p in chosen]]
    ) if chosen and evidence_ids else {}  # no readable evidence (all confidential): nothing to compare
    relevance = {evidence_id: [Closeness(**c) for c in near] for evidence_id, near in closest.items()}
    return PrecedentHits(index_cid=index_cid, precedents=hits, relevance=relevance)

"""The dispute flow's precedent search: encrypted scoring by CID, and the revealed hits.

The server side never sees the tenant's query or scores: it reads the public context and
the encrypted query from the content store, writes the encrypted scores back, and learns
which precedents matter only when the tenant reveals its choice (`TenantReveal`).
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.input import RunInput
from pydantic import BaseModel, Field

from blocks.evidence_store import content_store
from dalrn_core.explain.relevance import evidence_relevance
from dalrn_core.search.corpus import load_precedents
from dalrn_core.search.encrypted import encrypted_scores
from dalrn_core.search.index import PrecedentIndex
from dalrn_core.search.rotation import KeyRegistry


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


class TenantReveal(RunInput):
    """The tenant's answer to a paused run: the precedents it chose to reveal."""

    precedents: list[RevealedPrecedent]


@task(name="precedent-index", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[1, 4])
def current_index_cid() -> str:
    """The CID of the latest precedent index (built by the `build_index` flow)."""
    index = PrecedentIndex.latest()
    if index is None:
        raise RuntimeError("no precedent index yet: run `dalrn index build` (the build_index flow)")
    return index.cid


@task(name="encrypted-search", cache_policy=NO_CACHE, persist_result=False, log_prints=False,
      retries=2, retry_delay_seconds=[1, 4])
def encrypted_precedent_search(request: PrecedentSearchRequest, index_cid: str) -> dict:
    """Score the encrypted query against every precedent; store the ciphertexts by CID."""
    store = content_store()
    index = PrecedentIndex.load(index_cid)
    blobs = encrypted_scores(
        store.get(request.context_cid),
        store.get(request.query_cid),
        index.vectors,
        active_key_ids=KeyRegistry().active_ids(),
    )
    score_cids = [store.put(blob) for blob in blobs]
    create_table_artifact(
        key="encrypted-scores",
        table=[{"chunk": i, "ciphertext_cid": cid} for i, cid in enumerate(score_cids)],
        description=f"Encrypted scores of {len(index)} precedents for tenant {request.tenant}: "
        "only the tenant's secret key can read them.",
    )
    return {"score_cids": score_cids, "index_cid": index_cid, "documents": len(index)}


@task(name="search-hits", cache_policy=NO_CACHE)
def describe_hits(revealed: list[RevealedPrecedent], index_cid: str, evidence_ids: list[str],
                  evidence_vectors: list[list[float]]) -> dict:
    """The revealed precedents with their text and CID, and each evidence's closest ones."""
    store = content_store()
    corpus = load_precedents().set_index("precedent_id")
    index = PrecedentIndex.load(index_cid)
    hits = []
    for hit in revealed:
        row = corpus.loc[hit.precedent_id]
        hits.append({
            "precedent_id": hit.precedent_id,
            "score": hit.score,
            "license_name": row["license_name"],
            "cid": store.put(row["text"].encode()),
            "excerpt": row["text"][:240],
        })
    if hits:
        create_table_artifact(key="search-hits", table=hits,
                              description="Precedents the tenant revealed, best first")
    positions = {pid: i for i, pid in enumerate(index.ids)}
    chosen = [h["precedent_id"] for h in hits]
    relevance = evidence_relevance(
        evidence_ids, evidence_vectors, chosen, index.vectors[[positions[p] for p in chosen]]
    ) if chosen else {}
    return {"precedents": hits, "relevance": relevance}

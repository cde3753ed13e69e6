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

from blocks.evidence_store import content_store
from dalrn_core.dispute.stages import EncryptedSearch
from dalrn_core.search.encrypted import score_stored_query
from dalrn_core.search.index import PrecedentIndex
from dalrn_core.search.precedents import (
    PrecedentHits,
    PrecedentSearchRequest,
    RevealedPrecedent,
    check_revealed,
    describe_revealed,
    latest_index_cid,
)
from dalrn_core.search.rotation import KeyRegistry

__all__ = ["PrecedentSearchRequest", "RevealedPrecedent", "TenantReveal", "checked_reveal",
           "describe_hits", "encrypted_precedent_search", "latest_index_cid"]


class TenantReveal(RunInput):
    """The tenant's answer to a paused run: the precedents it chose to reveal."""

    precedents: list[RevealedPrecedent]


@task(name="encrypted-search", cache_policy=NO_CACHE, persist_result=False, log_prints=False,
      retries=2, retry_delay_seconds=[1, 4])
def encrypted_precedent_search(request: PrecedentSearchRequest, index_cid: str) -> EncryptedSearch:
    """Score the encrypted query against every precedent; store the ciphertexts by CID."""
    # Loaded once per worker process, and its CKKS encoding kept under its CID, so later
    # disputes over the same index skip both.
    index = PrecedentIndex.open(index_cid)
    score_cids = score_stored_query(content_store(), request.context_cid, request.query_cid,
                                    index.vectors, active_key_ids=KeyRegistry().active_ids(),
                                    corpus_version=index_cid)
    create_table_artifact(
        key="encrypted-scores",
        table=[{"chunk": i, "ciphertext_cid": cid} for i, cid in enumerate(score_cids)],
        description=f"Encrypted scores of {len(index)} precedents for tenant {request.tenant}: "
        "only the tenant's secret key can read them.",
    )
    return EncryptedSearch(request=request, score_cids=score_cids, index_cid=index_cid,
                           documents=len(index))


def checked_reveal(revealed: list[RevealedPrecedent], index_cid: str, k: int) -> list[RevealedPrecedent]:
    """The tenant's answer, refused (naming field and rule) unless every precedent is usable."""
    return check_revealed(revealed, PrecedentIndex.open(index_cid), k)


# One task for the tenant's answer: a refused reveal fails it before anything is described.
# (A task run costs Prefect's server and the worker at every dispute; a check is not a stage.)
@task(name="search-hits", cache_policy=NO_CACHE)
def describe_hits(revealed: list[RevealedPrecedent], index_cid: str, evidence_ids: list[str],
                  evidence_vectors: list[list[float]], k: int | None = None) -> PrecedentHits:
    """The revealed precedents with their text and CID, and each evidence's closest ones.

    With `k` (a search was made) the reveal is checked first: at most `k`, each id in the
    index and named once, each score a cosine.
    """
    if k is not None:
        revealed = checked_reveal(revealed, index_cid, k)
    hits = describe_revealed(revealed, index_cid, evidence_ids, evidence_vectors, content_store())
    if hits.precedents:
        create_table_artifact(key="search-hits", table=[h.model_dump() for h in hits.precedents],
                              description="Precedents the tenant revealed, best first")
    return hits

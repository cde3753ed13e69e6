"""`dalrn search`: nearest precedents of a text, in the clear or under the tenant's key.

With `--encrypted` the CLI plays both roles of the dispute flow's search, by CID through
the content store: the tenant (`dalrn_core.search.tenant_query`) stores its public context
and CKKS query, the server function (`score_stored_query`) scores every precedent without
reading the query and stores the encrypted scores, and the tenant decrypts and ranks them.
"""

from __future__ import annotations

import time

from dalrn_core.errors import InputError
from dalrn_core.search.corpus import precedents_by_id
from dalrn_core.search.embed import Embedder
from dalrn_core.search.encrypted import score_stored_query
from dalrn_core.search.index import PrecedentIndex
from dalrn_core.search.rotation import KeyRegistry
from dalrn_core.search.tenant_query import prepare_search, reveal_precedents


def search(text: str, *, k: int = 10, encrypted: bool = False, tenant: str = "cli") -> dict:
    if not text.strip():
        raise InputError.one("text", "must not be empty")
    if not 1 <= k <= 100:
        raise InputError.one("k", "must be between 1 and 100")
    index = PrecedentIndex.latest()
    if index is None:
        raise InputError.one("index", "no precedent index yet: run `dalrn index build`")
    started = time.perf_counter()
    if encrypted:
        from blocks.evidence_store import content_store  # imports Prefect: on use only

        store, registry = content_store(), KeyRegistry()
        request = prepare_search(tenant, [text], store, k=k, registry=registry)
        score_cids = score_stored_query(store, request["context_cid"], request["query_cid"],
                                        index.vectors, active_key_ids=registry.active_ids())
        found = [(hit["precedent_id"], hit["score"])
                 for hit in reveal_precedents(tenant, score_cids, index.ids, store, k)]
    else:
        query = Embedder.load().encode([text])[0]
        top_scores, top_ids = index.search(query[None, :], k)
        found = [(str(pid), float(s)) for pid, s in zip(top_ids[0], top_scores[0]) if pid]
    seconds = time.perf_counter() - started
    corpus = precedents_by_id()
    hits = [
        {"rank": rank, "precedent_id": pid, "score": round(score, 6),
         "license": corpus.loc[pid, "license_name"], "excerpt": corpus.loc[pid, "text"][:160]}
        for rank, (pid, score) in enumerate(found, start=1)
    ]
    return {"query": text, "encrypted": encrypted, "index_cid": index.cid, "k": k,
            "seconds": round(seconds, 4), "hits": hits}


def print_hits(result: dict) -> None:
    mode = "encrypted (CKKS)" if result["encrypted"] else "plain (FAISS HNSW)"
    print(f"{len(result['hits'])} precedents, {mode} search in {result['seconds']:.3f} s")
    for hit in result["hits"]:
        print(f"{hit['rank']:>3}  {hit['score']:.4f}  {hit['precedent_id']:<28} {hit['excerpt'][:70]!r}")

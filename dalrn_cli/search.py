"""`dalrn search`: nearest precedents of a text, in the clear or under the tenant's key.

With `--encrypted` the query leaves this process only as a CKKS ciphertext: the server
function scores it against every precedent without reading it, and the scores come back
encrypted for this tenant's key alone.
"""

from __future__ import annotations

import time

import numpy as np

from dalrn_core.errors import InputError
from dalrn_core.search.corpus import load_precedents
from dalrn_core.search.embed import Embedder
from dalrn_core.search.encrypted import encrypted_scores
from dalrn_core.search.index import PrecedentIndex
from dalrn_core.search.rotation import KeyRegistry
from dalrn_core.tenant import tenant_keys


def search(text: str, *, k: int = 10, encrypted: bool = False, tenant: str = "cli") -> dict:
    if not text.strip():
        raise InputError.one("text", "must not be empty")
    if not 1 <= k <= 100:
        raise InputError.one("k", "must be between 1 and 100")
    index = PrecedentIndex.latest()
    if index is None:
        raise InputError.one("index", "no precedent index yet: run `dalrn index build`")
    query = Embedder.load().encode([text])[0]
    started = time.perf_counter()
    if encrypted:
        keys = tenant_keys(tenant)
        registry = KeyRegistry()
        registry.register(tenant, keys.public_context())
        blobs = encrypted_scores(keys.public_context(), keys.encrypt_query(query), index.vectors,
                                 active_key_ids=registry.active_ids())
        scores = keys.decrypt_scores(blobs)
        order = np.argsort(-scores, kind="stable")[:k]
        found = [(index.ids[i], float(scores[i])) for i in order]
    else:
        top_scores, top_ids = index.search(query[None, :], k)
        found = [(str(pid), float(s)) for pid, s in zip(top_ids[0], top_scores[0]) if pid]
    seconds = time.perf_counter() - started
    corpus = load_precedents().set_index("precedent_id")
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

"""Search benchmarks on the real SPDX corpus (issue 5).

Plain: recall@10 against exact search, queries per second and P50/P95 latency of one
query at a time on one core, for HNSW (default and tuned), IVF and exact search; queries
are held-out license clauses (`load_queries`), never corpus rows or random vectors.
Re-ranking: a candidate pool of 50 from a 4-bit scalar-quantised scan (approximate scores)
and from HNSW (exact scores), re-ranked by nothing, by exact re-scoring, and by
Grover-style amplitude amplification. Encrypted: seconds for the server to score 1k and
10k documents under CKKS (cold: documents encoded in the call; warm: encoded corpus
reused), against TenSEAL's own vector-matrix product, with the maximum score error and
whether the top 10 equal plaintext scoring. The 10k set is the corpus plus copies of it
under random rotations (real-embedding geometry, distinct rows): the corpus has 4.5k.
"""

from __future__ import annotations

import time

import faiss
import numpy as np

from dalrn_core.search.amplify import amplitude_amplify, exact_scores, recall_at_k, rerank
from dalrn_core.search.corpus import load_precedents, load_queries
from dalrn_core.search.embed import Embedder
from dalrn_core.search.index import IndexParams, PrecedentIndex, one_thread

PARAMETERS = {"k": 10, "query_every": {"full": 2, "quick": 7}, "rerank_pool": 50,
              "encrypted_sizes": {"full": [1000, 10000], "quick": [1000]},
              "ckks_poly_modulus_degree": 8192, "search_threads": 1, "embed_threads": 2}
KEYS = ["case", "n_docs", "recall_at_10", "qps", "p50_ms", "p95_ms", "seconds",
        "max_abs_err", "top10_equal"]


def _row(**values) -> dict:
    return {key: values.get(key) for key in KEYS}


def _embedded(quick: bool):
    import torch

    torch.set_num_threads(2)
    embedder = Embedder.load()
    corpus = load_precedents()
    queries = load_queries()
    step = 7 if quick else 2
    return (corpus.precedent_id.tolist(), embedder.encode(corpus.text.tolist()),
            embedder.encode(queries.text.iloc[::step].tolist()))


def _latency(index: PrecedentIndex, queries: np.ndarray) -> tuple[np.ndarray, list[float]]:
    found, times = [], []
    with one_thread():
        for q in queries:
            start = time.perf_counter()
            _, rows = index.search_positions(q[None, :], k=10)
            times.append(time.perf_counter() - start)
            found.append(rows[0])
    return np.array(found), times


def plain_rows(ids, vectors, queries) -> list[dict]:
    rows = []
    base = PrecedentIndex.build(vectors, ids)
    _, truth = base.exact_positions(queries, k=10)
    cases = [("exact IndexFlatIP", IndexParams(kind="flat")),
             ("hnsw M=32 efC=200 efS=128 (default)", IndexParams()),
             ("hnsw efS=64", IndexParams(ef_search=64)),
             ("hnsw efS=32", IndexParams(ef_search=32)),
             ("ivf nprobe=16", IndexParams(kind="ivf", nprobe=16)),
             ("ivf nprobe=4", IndexParams(kind="ivf", nprobe=4))]
    for name, params in cases:
        index = base if params == base.params else PrecedentIndex.build(vectors, ids, params)
        found, times = _latency(index, queries)
        ms = np.array(times) * 1e3
        rows.append(_row(case=f"plain {name}", n_docs=len(ids),
                         recall_at_10=recall_at_k(found, truth), qps=1e3 / ms.mean(),
                         p50_ms=float(np.percentile(ms, 50)),
                         p95_ms=float(np.percentile(ms, 95))))
    return rows


def rerank_rows(ids, vectors, queries, pool: int = 50) -> list[dict]:
    rows = []
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    _, truth = flat.search(queries, 10)
    sq = faiss.IndexScalarQuantizer(vectors.shape[1], faiss.ScalarQuantizer.QT_4bit,
                                    faiss.METRIC_INNER_PRODUCT)
    sq.train(vectors)
    sq.add(vectors)
    hnsw = PrecedentIndex.build(vectors, ids)
    pools = {"sq4 scan": sq.search(queries, pool), "hnsw": hnsw.search_positions(queries, pool)}
    for source, (scores, cand) in pools.items():
        scores = np.where(cand >= 0, scores, np.nan)
        ways = {"none": np.nan_to_num(scores, nan=-np.inf),
                "exact re-score": exact_scores(vectors, queries, cand)}
        for it in (1, 2, 3):
            ways[f"amplify it={it}"] = amplitude_amplify(scores, iterations=it)
        for way, weights in ways.items():
            rows.append(_row(case=f"rerank pool={pool} from {source}: {way}", n_docs=len(ids),
                             recall_at_10=recall_at_k(rerank(cand, weights, 10), truth)))
    return rows


def _ten_thousand(vectors: np.ndarray, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    parts = [vectors]
    while sum(len(p) for p in parts) < n:
        rotation, _ = np.linalg.qr(rng.normal(size=(vectors.shape[1],) * 2))
        parts.append(vectors @ rotation.astype(np.float32))
    return np.concatenate(parts)[:n].astype(np.float64)


def encrypted_rows(vectors, queries, sizes) -> list[dict]:
    from dalrn_core.search.encrypted import TenantKeys, encrypted_scores

    keys = TenantKeys.generate()
    public = keys.public_context()
    rows = []
    encrypted_scores(public, keys.encrypt_query(queries[0]), vectors[:2])  # parse keys once
    for n in sizes:
        docs = _ten_thousand(vectors, n)
        query = queries[n % len(queries)].astype(np.float64)
        plain = docs @ query
        blob = keys.encrypt_query(query)
        for label in ("cold", "warm"):
            start = time.perf_counter()
            out = encrypted_scores(public, blob, docs)
            seconds = time.perf_counter() - start
            scores = keys.decrypt_scores(out)
            rows.append(_row(case=f"ckks diagonal BSGS complex-packed, {label}", n_docs=n,
                             seconds=seconds, max_abs_err=float(np.abs(scores - plain).max()),
                             top10_equal=bool(np.array_equal(np.argsort(-scores)[:10],
                                                             np.argsort(-plain)[:10]))))
        rows.append(_tenseal_mm(keys, docs, query, plain))
    return rows


def _tenseal_mm(keys, docs, query, plain) -> dict:
    """TenSEAL's own `CKKSVector.mm`, chunked to its safe row limit (slots - dim + 1)."""
    import tenseal as ts

    server = ts.context_from(keys.public_context())
    limit = 4096 - docs.shape[1] + 1
    enc = ts.ckks_vector(keys.context, query.tolist())
    start = time.perf_counter()
    wire = ts.ckks_vector_from(server, enc.serialize())
    outs = [wire.mm(docs[i:i + limit].T.tolist()).serialize()
            for i in range(0, len(docs), limit)]
    seconds = time.perf_counter() - start
    scores = np.concatenate([np.array(ts.ckks_vector_from(keys.context, o).decrypt())
                             for o in outs])
    return _row(case="tenseal CKKSVector.mm, chunked", n_docs=len(docs), seconds=seconds,
                max_abs_err=float(np.abs(scores - plain).max()),
                top10_equal=bool(np.array_equal(np.argsort(-scores)[:10],
                                                np.argsort(-plain)[:10])))


def run(quick: bool) -> list[dict]:
    ids, vectors, queries = _embedded(quick)
    rows = plain_rows(ids, vectors, queries)
    rows += rerank_rows(ids, vectors, queries)
    rows += encrypted_rows(vectors, queries, [1000] if quick else [1000, 10000])
    return rows

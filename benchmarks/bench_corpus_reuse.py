"""Encrypted scoring of a second dispute against the first: the encoded corpus is reused.

Each dispute comes from its own tenant (fresh CKKS keys) and is scored against the same
index version, as a long-lived dispute worker does. Its public context is parsed before the
clock starts (that cost is per key, not per corpus), so the times are those of
`encrypted_scores` alone. Then four disputes over a version nobody has scored yet run in
four threads at once, and the number of encodings made is counted.

    .venv/bin/python -m benchmarks.run corpus_reuse [--quick]
"""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np

from dalrn_core.search.ckks import encoded_corpora
from dalrn_core.search.encrypted import _CONTEXTS, TenantKeys, encrypted_scores, key_id_of

DIM = 384
SIZES = {"full": [300, 3000, 12000], "quick": [300, 3000]}
PARAMETERS = {"dim": DIM, "sizes": SIZES, "seed": 0, "disputes_per_size": 3, "threads": 4,
              "documents": "random unit vectors"}


def _dispute(documents: np.ndarray, version: str, row: int) -> tuple[float, float]:
    """(seconds of encrypted scoring, max error against plaintext) for a new tenant."""
    keys = TenantKeys.generate()
    public = keys.public_context()
    _CONTEXTS.get(key_id_of(public), public)  # parsed once per key in a worker, not timed
    query = keys.encrypt_query(documents[row])
    start = time.perf_counter()
    blobs = encrypted_scores(public, query, documents, corpus_version=version)
    seconds = time.perf_counter() - start
    error = float(np.abs(keys.decrypt_scores(blobs) - documents @ documents[row]).max())
    return seconds, error


def _four_at_once(documents: np.ndarray) -> tuple[float, int]:
    """(wall seconds, encodings made) for four new tenants scoring an unseen version at once."""
    version, before = f"index-{uuid.uuid4()}", encoded_corpora.encodings
    barrier, spans = threading.Barrier(4), []

    def worker(row: int) -> None:
        keys = TenantKeys.generate()
        public = keys.public_context()
        _CONTEXTS.get(key_id_of(public), public)
        query = keys.encrypt_query(documents[row])
        barrier.wait()
        start = time.perf_counter()
        encrypted_scores(public, query, documents, corpus_version=version)
        spans.append((start, time.perf_counter()))

    threads = [threading.Thread(target=worker, args=(row,)) for row in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = max(end for _, end in spans) - min(start for start, _ in spans)
    return wall, encoded_corpora.encodings - before


def run(quick: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    rng = np.random.default_rng(0)
    for n in SIZES["quick" if quick else "full"]:
        docs = rng.normal(size=(n, DIM))
        docs /= np.linalg.norm(docs, axis=1, keepdims=True)
        version = f"index-{uuid.uuid4()}"
        times = [_dispute(docs, version, row) for row in (0, n // 2, n - 1)]
        wall, encodings = _four_at_once(docs)
        rows.append({"n_docs": n, "first_s": round(times[0][0], 4),
                     "second_s": round(times[1][0], 4), "third_s": round(times[2][0], 4),
                     "speedup": round(times[0][0] / times[1][0], 2),
                     "max_abs_err": max(t[1] for t in times),
                     "four_threads_cold_s": round(wall, 4), "four_threads_encodings": encodings})
    return rows

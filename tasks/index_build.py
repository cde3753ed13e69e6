"""Search: the steps of building the precedent index (the `build_index` flow).

Encrypted scoring of a tenant's query is in `tasks/precedents.py`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from dalrn_core.search.corpus import load_precedents
from dalrn_core.search.embed import Embedder
from dalrn_core.search.index import IndexParams, PrecedentIndex


@task(name="load-precedents", cache_policy=NO_CACHE)
def load_corpus(limit: int | None = None) -> dict:
    """The precedent corpus (the first `limit` paragraphs if given) as ids and texts."""
    corpus = load_precedents()
    if limit is not None:
        corpus = corpus.head(limit)
    return {"ids": corpus.precedent_id.tolist(), "texts": corpus.text.tolist()}


@task(name="corpus-table", cache_policy=NO_CACHE)
def corpus_table() -> pd.DataFrame:
    """The whole precedent corpus as a table, for its data quality suite."""
    return load_precedents()


@task(name="embed-precedents", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def embed_corpus(texts: list[str]) -> np.ndarray:
    """Embeddings of every paragraph (cached by content hash), with a progress artifact."""
    artifact = create_progress_artifact(0.0, key="embed-precedents",
                                        description="precedent paragraphs embedded")

    def report(done: int, total: int) -> None:
        update_progress_artifact(artifact, 100.0 * done / max(total, 1))

    return Embedder.load().encode(texts, progress=report)


@task(name="build-index", cache_policy=NO_CACHE)
def build_and_save_index(vectors: np.ndarray, ids: list[str], params: dict,
                         limit: int | None = None) -> str:
    """Build the FAISS index, store it under its CID, make it the latest; return the CID."""
    # the same manifest as `build_precedent_index`, so the CLI and the flow agree on CIDs
    index = PrecedentIndex.build(vectors, ids, IndexParams(**params),
                                 meta={"model": "all-minilm-l6-v2", "corpus": "spdx",
                                       "limit": limit})
    return index.save()

"""Building the precedent index in one call: corpus, embeddings, FAISS, saved by CID.

The CLI (`dalrn index build`) and the `build_index` flow both call `build_precedent_index`,
so the same corpus, limit and parameters give the same manifest and so the same CID.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from dalrn_core.quality.validate import validate_table
from dalrn_core.search.corpus import load_precedents
from dalrn_core.search.embed import MODEL_TAG, Embedder, Progress
from dalrn_core.search.index import IndexParams, PrecedentIndex

CORPUS_SUITE = "precedent_corpus"


def build_precedent_index(*, limit: int | None = None, params: IndexParams | None = None,
                          progress: Progress | None = None, corpus: pd.DataFrame | None = None,
                          check: Callable[[pd.DataFrame, str], Any] = validate_table) -> PrecedentIndex:
    """Embed the SPDX precedent paragraphs (the first `limit` if given) and index them.

    `corpus` is the loaded precedent table (default: load it); `check(table, suite)` runs
    the corpus's data quality suite on the whole table before any subset is taken (a flow
    passes one that also reports to its UI).
    """
    corpus = load_precedents() if corpus is None else corpus
    check(corpus, CORPUS_SUITE)
    if limit is not None:
        corpus = corpus.head(limit)
    vectors = Embedder.load(MODEL_TAG).encode(corpus.text.tolist(), progress=progress)
    index = PrecedentIndex.build(vectors, corpus.precedent_id.tolist(), params,
                                 meta={"model": MODEL_TAG, "corpus": "spdx", "limit": limit})
    index.save()
    return index

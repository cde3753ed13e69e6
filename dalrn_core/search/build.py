"""Building the precedent index in one call: corpus, embeddings, FAISS, saved by CID."""

from __future__ import annotations

from dalrn_core.quality.validate import validate_table
from dalrn_core.search.corpus import load_precedents
from dalrn_core.search.embed import Embedder
from dalrn_core.search.index import IndexParams, PrecedentIndex


def build_precedent_index(*, limit: int | None = None, params: IndexParams | None = None,
                          progress=None) -> PrecedentIndex:
    """Embed the SPDX precedent paragraphs (the first `limit` if given) and index them."""
    corpus = load_precedents()
    validate_table(corpus, "precedent_corpus")  # the whole input, before any subset is taken
    if limit is not None:
        corpus = corpus.head(limit)
    vectors = Embedder.load().encode(corpus.text.tolist(), progress=progress)
    index = PrecedentIndex.build(vectors, corpus.precedent_id.tolist(), params,
                                 meta={"model": "all-minilm-l6-v2", "corpus": "spdx", "limit": limit})
    index.save()
    return index

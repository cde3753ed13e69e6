"""Build and version the precedent index: corpus, embeddings, FAISS, stored by CID."""

from __future__ import annotations

from prefect import flow

from tasks.quality import check_table
from tasks.search import build_and_save_index, corpus_table, embed_corpus, load_corpus


@flow(name="build_index", log_prints=True)
def build_index(limit: int | None = None, kind: str = "hnsw", M: int = 32,
                ef_construction: int = 200, ef_search: int = 128,
                nlist: int | None = None, nprobe: int = 16) -> str:
    """Embed the SPDX precedent paragraphs and index them; returns the index CID."""
    check_table(corpus_table(), "precedent_corpus")  # the whole input, before any subset
    corpus = load_corpus(limit)
    vectors = embed_corpus(corpus["texts"])
    params = {"kind": kind, "M": M, "ef_construction": ef_construction,
              "ef_search": ef_search, "nlist": nlist, "nprobe": nprobe}
    cid = build_and_save_index(vectors, corpus["ids"], params, limit)
    print(f"precedent index {cid}: {len(corpus['ids'])} paragraphs, {kind}")
    return cid


if __name__ == "__main__":
    build_index()

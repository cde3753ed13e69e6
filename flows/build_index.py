"""Build and version the precedent index: corpus, embeddings, FAISS, stored by CID."""

from __future__ import annotations

from prefect import flow

from dalrn_core.search.index import IndexParams
from tasks.index_build import build_index_from, load_corpus


@flow(name="build_index", log_prints=True)
def build_index(limit: int | None = None, kind: str = "hnsw", M: int = 32,
                ef_construction: int = 200, ef_search: int = 128,
                nlist: int | None = None, nprobe: int = 16) -> str:
    """Embed the SPDX precedent paragraphs and index them; returns the index CID."""
    params = IndexParams(kind=kind, M=M, ef_construction=ef_construction, ef_search=ef_search,
                         nlist=nlist, nprobe=nprobe)
    cid = build_index_from(load_corpus(), params, limit)
    print(f"precedent index {cid} ({kind}, limit {limit})")
    return cid


if __name__ == "__main__":
    build_index()

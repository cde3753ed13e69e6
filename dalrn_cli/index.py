"""Building the precedent index from the CLI, with a progress bar."""

from __future__ import annotations

from dalrn_cli.progress import ProgressBar
from dalrn_core.search.build import build_precedent_index
from dalrn_core.search.index import PrecedentIndex


def build_index_now(*, limit: int | None = None, say=print) -> str:
    say("building the precedent index (SPDX license texts, MiniLM embeddings, FAISS HNSW)")
    index = build_precedent_index(limit=limit, progress=ProgressBar("embedding precedents"))
    say(f"indexed {len(index)} paragraphs")
    return index.cid


def ensure_index(say=print) -> str:
    """The latest index's CID, building one first if there is none."""
    index = PrecedentIndex.latest()
    return index.cid if index is not None else build_index_now(say=say)

"""Embed: MiniLM sentence embeddings of the evidence, cached by content."""

from __future__ import annotations

from datetime import timedelta

from prefect import task
from prefect.cache_policies import INPUTS, TASK_SOURCE

from dalrn_core.search.embed import Embedder


@task(name="embed", cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(days=30),
      retries=1, retry_delay_seconds=2)
def embed_texts(texts: list[str]) -> list[list[float]]:
    """L2-normalised 384-dimensional embeddings, one per text."""
    return Embedder.load().encode(texts).tolist()

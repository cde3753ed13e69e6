"""Embed: MiniLM sentence embeddings of the evidence, cached by model and content."""

from __future__ import annotations

from datetime import timedelta

from prefect import task
from prefect.cache_policies import INPUTS, TASK_SOURCE

from dalrn_core.dispute.stages import Embedding
from dalrn_core.podp.canonical import digest_of
from dalrn_core.search.embed import MODEL_TAG, Embedder


# `model` is an input so the cache key names the model: another model never reuses these.
@task(name="embed", cache_policy=INPUTS + TASK_SOURCE, cache_expiration=timedelta(days=30),
      retries=1, retry_delay_seconds=2)
def embed_texts(texts: list[str], model: str = MODEL_TAG) -> Embedding:
    """L2-normalised 384-dimensional embeddings, one per text."""
    vectors = Embedder.load(model).encode(texts).tolist()
    return Embedding(model=model, texts_digest=digest_of(texts), vectors=vectors)

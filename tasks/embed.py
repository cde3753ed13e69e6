"""Embed: MiniLM sentence embeddings of what the server may read, cached by model and content.

That is the public evidence and the parties' claims; confidential evidence reaches the flow
only as a ciphertext CID, so it is never among them (its owner embeds it in its own process).
"""

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
def embed_texts(texts: list[str], claims: list[str] | None = None, model: str = MODEL_TAG) -> Embedding:
    """L2-normalised 384-dimensional embeddings, one per public evidence text and one per claim."""
    claims = claims or []
    embedder = Embedder.load(model)
    # Two batches, so an evidence vector is the same bits whether or not claims came with it.
    vectors = embedder.encode(texts).tolist() if texts else []
    claim_vectors = embedder.encode(claims).tolist() if claims else []
    return Embedding(model=model, texts_digest=digest_of(texts), vectors=vectors,
                     claims_digest=digest_of(claims), claim_vectors=claim_vectors)

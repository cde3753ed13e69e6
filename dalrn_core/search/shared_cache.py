"""Embeddings of public texts shared by every dispute worker, in Redis.

The server embeds only the public evidence of a dispute (a confidential item reaches it
encrypted and is never embedded here), so what this cache holds is a function of public
text and the model: key ``dalrn:cache:embedding:<model tag>:<sha256 of the text>``, value
the 384 float32 values. Nothing of a tenant's query, scores or ciphertexts passes through
an `Embedder`, so none of it can land here. A vector does not depend on the precedent
index, so an index rebuild leaves these valid; a new model has a new tag, hence new keys.
"""

from __future__ import annotations

import numpy as np
import redis

from dalrn_core.observability import metrics
from dalrn_core.search.embed import DIM, MODEL_TAG, EmbeddingCache

PREFIX = "dalrn:cache:embedding"
TTL_S = 30 * 24 * 3600


class RedisEmbeddingCache(EmbeddingCache):
    """`EmbeddingCache` over Redis: hits and misses counted in `dalrn_cache_lookups`."""

    def __init__(self, client: redis.Redis, model: str = MODEL_TAG, ttl_s: int = TTL_S) -> None:
        super().__init__(model=model)
        self.client, self.ttl_s = client, ttl_s

    def _key(self, key: str) -> str:
        return f"{PREFIX}:{self.model}:{key}"

    def get(self, key: str) -> np.ndarray | None:
        raw = self.client.get(self._key(key))
        if not isinstance(raw, bytes) or len(raw) != DIM * 4:  # absent, or not a whole vector: recompute
            metrics.CACHE_LOOKUPS.labels("embedding", "miss").inc()
            return None
        metrics.CACHE_LOOKUPS.labels("embedding", "hit").inc()
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)

    def put(self, key: str, vector: np.ndarray) -> None:
        self.client.set(self._key(key), np.asarray(vector, dtype="<f4").tobytes(), ex=self.ttl_s)

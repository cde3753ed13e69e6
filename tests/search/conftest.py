"""Shared fixtures for the search tests: the real corpus, the real model, real keys.

Each test session has a throw-away data folder (tests/conftest.py), but embeddings go to
one persistent cache, the checkout's own `.dalrn/embeddings` (unless DALRN_EMBEDDINGS_DIR
is set): a vector is stored under the sha256 of its text alone, so sharing it is safe, and
a warm cache makes the real-corpus tests fast where a cold one is only slower.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("DALRN_EMBEDDINGS_DIR",
                      str(Path(__file__).resolve().parents[2] / ".dalrn" / "embeddings"))

import numpy as np
import pytest
import torch

from dalrn_core.search.corpus import load_precedents, load_queries
from dalrn_core.search.embed import Embedder

SUBSET = 1000  # corpus rows in the default-suite index tests
QUERIES = 150


@pytest.fixture(scope="session")
def corpus():
    return load_precedents()


@pytest.fixture(scope="session")
def embedder():
    torch.set_num_threads(1)  # the test machine is shared
    return Embedder.load()


@pytest.fixture(scope="session")
def subset(corpus, embedder):
    """(ids, vectors) of every 4th corpus paragraph, the first SUBSET of them."""
    rows = corpus.iloc[::4].head(SUBSET)
    return rows.precedent_id.tolist(), embedder.encode(rows.text.tolist())


@pytest.fixture(scope="session")
def query_vectors(embedder):
    """Held-out real queries (short license clauses, not corpus rows)."""
    queries = load_queries()
    picked = queries.iloc[np.linspace(0, len(queries) - 1, QUERIES).astype(int)]
    return embedder.encode(picked.text.tolist())


@pytest.fixture(scope="session")
def tenant_keys():
    from dalrn_core.search.encrypted import TenantKeys

    return TenantKeys.generate()

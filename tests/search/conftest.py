"""Shared fixtures for the search tests: the real corpus, the real model, real keys.

Embeddings go through the project's content-hash cache (`data_dir()/embeddings`), which is
safe to share: a vector is stored under the sha256 of its text, so a warm cache makes the
real-corpus tests fast and a cold one only slower.
"""

from __future__ import annotations

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

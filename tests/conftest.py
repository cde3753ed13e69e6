"""Test-wide settings: every test session gets its own data folder and key folder, and
Prefect keeps its state there, never in the user's home."""

from __future__ import annotations

import os
import tempfile

import pytest

_ROOT = tempfile.mkdtemp(prefix="dalrn-tests-")
os.environ["DALRN_HOME"] = os.path.join(_ROOT, "home")
os.environ["DALRN_KEYS_DIR"] = os.path.join(_ROOT, "keys")
# Embeddings depend on the text alone, so one cache in the checkout serves every session.
os.environ.setdefault(
    "DALRN_EMBEDDINGS_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), ".dalrn", "embeddings")
)

from dalrn_cli.environment import configure

configure()


@pytest.fixture(scope="session")
def small_index():
    """The first 300 SPDX paragraphs, embedded with MiniLM and indexed with FAISS."""
    from dalrn_core.search.build import build_precedent_index
    from dalrn_core.search.index import PrecedentIndex

    index = PrecedentIndex.latest()
    if index is None or len(index) != 300:
        index = build_precedent_index(limit=300)
    return index

"""A Prefect test harness and a small real precedent index, shared by the flow tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def small_index():
    """The first 300 SPDX paragraphs, embedded with MiniLM and indexed with FAISS."""
    from dalrn_core.search.build import build_precedent_index
    from dalrn_core.search.index import PrecedentIndex

    index = PrecedentIndex.latest()
    if index is None or len(index) != 300:
        index = build_precedent_index(limit=300)
    return index

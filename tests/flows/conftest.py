"""A Prefect test harness and a small real precedent index, shared by the flow tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield

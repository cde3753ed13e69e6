import logging
import os

import flwr.common.logger  # noqa: F401  (configures the "flwr" logger; we then quiet it)
import pytest
import torch

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
torch.set_num_threads(1)
logging.getLogger("flwr").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _data_home(tmp_path, monkeypatch):
    """Every test gets its own DALRN_HOME, so ledgers and models never leak between tests."""
    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield

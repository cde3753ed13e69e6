import logging
import os

import flwr.common.logger  # noqa: F401  (configures the "flwr" logger; we then quiet it)
import pytest
import torch

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
torch.set_num_threads(1)
logging.getLogger("flwr").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _data_home(data_home):
    """Every FL test gets its own DALRN_HOME (tests/conftest.py's data_home)."""
    return data_home


def pytest_collection_modifyitems(items):
    """pytest resets warning filters per test, so re-apply the two that training.py sets
    process-wide (both are known and harmless; see dalrn_core/fl/training.py)."""
    for item in items:
        if "tests/fl/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.filterwarnings(
                "ignore:Secure RNG turned off:UserWarning"))
            item.add_marker(pytest.mark.filterwarnings(
                "ignore:Full backward hook is firing:UserWarning"))

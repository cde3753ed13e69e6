"""Shared fixtures: a private data folder per test and one tiny trained predictor."""

from __future__ import annotations

import pytest
import torch

from dalrn_core.soan.dataset import build_dataset
from dalrn_core.soan.gcn import GCNTrainConfig, train_gcn

TRAIN_SEEDS = range(24)
TEST_SEEDS = range(500, 506)
N_RANGE = (20, 40)


@pytest.fixture(autouse=True)
def dalrn_home(data_home):
    """Every SOAN test gets its own DALRN_HOME (tests/conftest.py's data_home)."""
    return data_home


@pytest.fixture(scope="session")
def tiny_data():
    """24 small simulated networks to train on, 6 held out by seed (simulated longer)."""
    torch.set_num_threads(1)
    train = build_dataset(TRAIN_SEEDS, n_range=N_RANGE, jobs_per_node=200)
    test = build_dataset(TEST_SEEDS, n_range=N_RANGE, jobs_per_node=800)
    return train, test


@pytest.fixture(scope="session")
def tiny_predictor(tiny_data):
    torch.set_num_threads(1)
    return train_gcn(tiny_data[0], GCNTrainConfig(hidden=16, epochs=250))


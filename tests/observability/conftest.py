"""Fixtures of the observability tests."""

from __future__ import annotations

import pytest


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """A scratch root holding this test's DALRN_HOME (`home/`) and keys folder (`keys/`)."""
    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path

"""Fault tests: a fresh data and key folder per test, and the chain's own count of anchorings."""

from __future__ import annotations

from collections import Counter

import pytest


@pytest.fixture(autouse=True)
def closed_breakers():
    """Each fault test starts as a fresh process would: the per-process circuit breakers
    (dalrn_core.observability.breakers) closed, whatever an earlier test's outage left."""
    from dalrn_core.observability.breakers import BREAKERS

    for breaker in BREAKERS.values():
        breaker.close()
    yield
    for breaker in BREAKERS.values():
        breaker.close()


@pytest.fixture()
def home(data_home, tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path


def anchored_roots(client) -> Counter[str]:
    """How many times each root was anchored, read from the contract's RootAnchored events
    (the chain's own history: a doubled anchoring would show as a count of 2, or a revert)."""
    events = client.contract.events.RootAnchored().get_logs(from_block=0)
    return Counter("0x" + bytes(e["args"]["root"]).hex() for e in events)

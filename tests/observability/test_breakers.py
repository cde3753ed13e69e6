"""Breakers around the chain RPC, IPFS and Redis, against real closed ports.

A closed loopback port refuses at once, as a dead node does: after `FAIL_MAX` refusals the
breaker opens and later calls fail at once without dialling; the service degrades (anchors
stay pending, /readyz says `degraded` with 200, requests are served without rate limits)
instead of failing, and the breaker's state and refusals are in the metrics.
"""

from __future__ import annotations

import socket
import time

import pytest
from eth_account import Account
from prometheus_client import REGISTRY
from web3 import Web3

from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.evidence.ipfs import IpfsContentStore
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.observability.breakers import BREAKERS, FAIL_MAX, DependencyUnavailable, states
from tests.gateway.gateway_app import add_tenant, bearer, client_of, make_app, token_of

pytestmark = [pytest.mark.timeout(120)]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(autouse=True)
def closed_breakers():
    for breaker in BREAKERS.values():
        breaker.close()
    yield
    for breaker in BREAKERS.values():
        breaker.close()


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_ipfs_breaker_opens_after_refusals_and_then_refuses_at_once():
    store = IpfsContentStore(f"http://127.0.0.1:{closed_port()}", timeout=5)
    failures, rejected = _value("dalrn_circuit_breaker_failures_total", dependency="ipfs"), \
        _value("dalrn_circuit_breaker_rejected_total", dependency="ipfs")
    for _ in range(FAIL_MAX):
        with pytest.raises(ConnectionError) as refused:
            store.put(b"evidence")
        assert not isinstance(refused.value, DependencyUnavailable)  # these calls dialled
    assert states()["ipfs"] == "open"
    started = time.perf_counter()
    with pytest.raises(DependencyUnavailable, match="ipfs is unavailable"):
        store.put(b"evidence")
    assert time.perf_counter() - started < 0.05  # not dialled
    assert _value("dalrn_circuit_breaker_state", dependency="ipfs", state="open") == 1
    assert _value("dalrn_circuit_breaker_state", dependency="ipfs", state="closed") == 0
    assert _value("dalrn_circuit_breaker_failures_total", dependency="ipfs") == failures + FAIL_MAX
    assert _value("dalrn_circuit_breaker_rejected_total", dependency="ipfs") == rejected + 1
    assert states()["chain"] == "closed"  # one dependency's breaker is its own


def test_chain_down_leaves_the_anchor_pending_and_the_breaker_open(data_home):
    from dalrn_core.observability.disputes import refresh_anchor_backlog
    from dalrn_core.podp.batch import anchor_pending, pending, queue_leaf

    w3 = Web3(Web3.HTTPProvider(f"http://127.0.0.1:{closed_port()}", request_kwargs={"timeout": 5}))
    client = AnchorClient(w3, Account.create(), submit=None, address="0x" + "11" * 20)  # type: ignore[arg-type]
    store = LocalContentStore()
    queue_leaf("chain-down-001", b"\x01" * 32, store.put(b"receipt"))
    for _ in range(FAIL_MAX):
        with pytest.raises(OSError) as refused:  # the node's refusal, as web3's transport reports it
            anchor_pending(client, store)
        assert not isinstance(refused.value, DependencyUnavailable)
    with pytest.raises(DependencyUnavailable):
        anchor_pending(client, store)
    assert [e["chain_id"] for e in pending()] == ["chain-down-001"]  # it waits for the next batch
    refresh_anchor_backlog()
    assert _value("dalrn_anchors_pending") == 1
    assert _value("dalrn_circuit_breaker_state", dependency="chain", state="open") == 1


def test_readyz_degrades_with_ipfs_down_and_names_the_open_breaker(home, tmp_path, monkeypatch):
    from gateway.routers import health

    monkeypatch.setenv("DALRN_CONTENT_STORE", "ipfs")
    monkeypatch.setenv("DALRN_IPFS_API_URL", f"http://127.0.0.1:{closed_port()}")
    app = make_app(tmp_path)
    app.state.readiness_checks = {"database": health.check_database, "content_store": health.check_store}
    with client_of(app) as client:
        answers = [client.get("/readyz") for _ in range(FAIL_MAX + 1)]
    for answer in answers:
        assert answer.status_code == 200, answer.text  # degraded, still serving
        body = answer.json()
        assert body["status"] == "degraded"
        assert body["checks"]["database"]["status"] == "ok" and body["checks"]["content_store"]["status"] == "down"
    assert answers[-1].json()["checks"]["content_store"]["error"] == "DependencyUnavailable"
    assert answers[-1].json()["circuit_breakers"]["ipfs"] == {"state": "open"}
    assert str(tmp_path) not in answers[-1].text


def test_readyz_is_503_when_a_required_dependency_is_down(home, tmp_path):
    from gateway.routers import health

    async def database_gone(request):
        raise OSError("no database")

    app = make_app(tmp_path)
    app.state.readiness_checks = {"database": database_gone, "content_store": health.check_store}
    with client_of(app) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503 and answer.json()["status"] == "not_ready"


def test_rate_limit_storage_down_serves_requests_unlimited(home, tmp_path):
    app = make_app(tmp_path, rate_limit_storage=f"redis://127.0.0.1:{closed_port()}")
    issued = add_tenant(app, "acme-legal")
    with client_of(app) as client:
        token = token_of(client, issued)
        answers = [client.get("/v1/disputes/none-such", headers=bearer(token)) for _ in range(FAIL_MAX + 2)]
    assert [a.status_code for a in answers] == [404] * len(answers)  # served, not 500
    assert states()["redis"] == "open"

"""When anchoring fails after its retries the disputes stay `anchor pending` and the next
batch takes them; a root whose transaction went through before a crash is never paid twice."""

from __future__ import annotations

import socket

import pytest
from eth_account import Account

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.chain.multichain import FallbackAnchorClient
from dalrn_core.chain.production import ChainConfig, RpcAnchorClient
from dalrn_core.dispute.records import STATUS_ANCHORED, STATUS_RESOLVED, load_record
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import anchor_pending, pending
from dalrn_core.podp.merkle import merkle_root
from dalrn_core.podp.verify import verify_dispute

from .conftest import resolve_disputes


def _unreachable_chain() -> RpcAnchorClient:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = ChainConfig(name="down", chain_id=1, rpc_url=f"http://127.0.0.1:{port}",
                         contract_address="0x" + "22" * 20, rpc_attempts=2, rpc_timeout_s=2)
    return RpcAnchorClient(config, Account.create())


def _batches(client) -> int:
    return client.contract.functions.batchCount().call({"from": client.account.address})


@pytest.mark.parametrize("wrap", [False, True], ids=["single-chain", "fallback-policy"])
def test_failed_anchor_leaves_disputes_pending_for_the_next_batch(home, wrap):
    first = resolve_disputes(4, prefix="early")
    store, down = LocalContentStore(), _unreachable_chain()
    with pytest.raises(ConnectionError):
        anchor_pending(FallbackAnchorClient([down]) if wrap else down, store)
    assert [e["dispute_id"] for e in pending()] == first
    for dispute_id in first:
        record = load_record(dispute_id)
        assert record["status"] == STATUS_RESOLVED and "anchor" not in record
        with pytest.raises(IntegrityError, match="anchor pending"):
            verify_dispute(dispute_id)

    later = resolve_disputes(2, prefix="late")
    client = open_embedded_anchor()
    batch = anchor_pending(client, store)
    assert sorted(batch["disputes"]) == sorted(first + later) and pending() == []
    assert _batches(client) == 1
    for dispute_id in first + later:
        assert load_record(dispute_id)["status"] == STATUS_ANCHORED
        verify_dispute(dispute_id)
    assert anchor_pending(client, store) is None and _batches(client) == 1


def test_root_anchored_before_a_crash_is_not_anchored_again(home):
    ids = resolve_disputes(3)
    client, store = open_embedded_anchor(), LocalContentStore()
    # The transaction went through, then the process died before writing any proof.
    root = merkle_root([bytes.fromhex(e["leaf"]) for e in pending()])
    client.anchor_root(root, 3, "ipfs://before-crash")
    assert _batches(client) == 1
    batch = anchor_pending(client, store)
    assert batch["tx_hash"] is None and batch["note"] == "root was already anchored"
    assert _batches(client) == 1 and pending() == []
    for dispute_id in ids:
        verify_dispute(dispute_id)

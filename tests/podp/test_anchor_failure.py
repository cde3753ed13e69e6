"""When anchoring fails after its retries the disputes stay `anchor pending` and the next
batch takes them; a root whose transaction went through before a crash is never paid twice."""

from __future__ import annotations

import socket

import pytest
from eth_account import Account

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.chain.multichain import FallbackAnchorClient
from dalrn_core.chain.production import ChainConfig, RpcAnchorClient
from dalrn_core.dispute.records import STATUS_ANCHOR_PENDING, STATUS_ANCHORED, load_record
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import anchor_pending, pending, queue_leaf
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
    assert [e["chain_id"] for e in pending()] == first
    for dispute_id in first:
        record = load_record(dispute_id)
        assert record["status"] == STATUS_ANCHOR_PENDING and "anchor" not in record
        with pytest.raises(IntegrityError, match="anchor pending"):
            verify_dispute(dispute_id)

    later = resolve_disputes(2, prefix="late")
    client = open_embedded_anchor()
    # The batch that failed goes first, with exactly the root that was tried...
    retried = anchor_pending(client, store)
    assert retried["chains"] == first and retried["root"] == "0x" + merkle_root(
        [bytes.fromhex(load_record(d)["anchor"]["leaf"][2:]) for d in first]).hex()
    assert [e["chain_id"] for e in pending()] == later
    # ...then the disputes that came later.
    assert anchor_pending(client, store)["chains"] == later and pending() == []
    assert _batches(client) == 2
    for dispute_id in first + later:
        assert load_record(dispute_id)["status"] == STATUS_ANCHORED
        verify_dispute(dispute_id)
    assert anchor_pending(client, store) is None and _batches(client) == 2


def test_batch_mined_after_its_timeout_is_finished_without_a_second_transaction(home):
    first = resolve_disputes(3, prefix="slow")
    store = LocalContentStore()
    root = merkle_root([bytes.fromhex(e["leaf"]) for e in pending()])
    with pytest.raises(ConnectionError):
        anchor_pending(_unreachable_chain(), store)
    later = resolve_disputes(1, prefix="next")
    client = open_embedded_anchor()
    client.anchor_root(root, 3, "ipfs://mined-late")  # the lost transaction was mined after all
    batch = anchor_pending(client, store)
    assert batch["chains"] == first and batch["tx_hash"] is None and _batches(client) == 1
    for dispute_id in first:
        verify_dispute(dispute_id)
    assert [e["chain_id"] for e in pending()] == later


def test_dispute_resolved_again_during_a_failed_batch_keeps_its_new_leaf(home):
    (dispute_id,) = resolve_disputes(1, prefix="again")
    store = LocalContentStore()
    with pytest.raises(ConnectionError):
        anchor_pending(_unreachable_chain(), store)
    old_leaf = pending()[0]["leaf"]
    queue_leaf(dispute_id, b"\x42" * 32, "bafkreifakecidfortest")
    client = open_embedded_anchor()
    assert anchor_pending(client, store)["chains"] == [dispute_id]
    assert load_record(dispute_id)["anchor"]["leaf"] == "0x" + old_leaf
    assert [e["leaf"] for e in pending()] == ["42" * 32]  # the newer head waits for the next batch


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


def test_a_version_1_queue_entry_is_read_under_chain_id(tmp_path):
    from dalrn_core.podp.batch import entry_from_disk

    legacy = {"dispute_id": "old-1", "leaf": "ab" * 32, "receipt_cid": "bafk-old"}
    assert entry_from_disk(legacy) == {"chain_id": "old-1", "leaf": "ab" * 32, "receipt_cid": "bafk-old"}
    current = {"chain_id": "new-1", "leaf": "cd" * 32, "receipt_cid": "bafk-new"}
    assert entry_from_disk(current) is current

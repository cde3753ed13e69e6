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
from dalrn_core.podp.reorg import recheck_anchors
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
    late = client.anchor_root(root, 3, "ipfs://mined-late")  # the lost transaction was mined after all
    batch = anchor_pending(client, store)
    assert batch["chains"] == first and _batches(client) == 1
    # Found on chain, not sent again: the record names the transaction that was mined.
    assert (batch["tx_hash"], batch["block_hash"], batch["chain_id"]) == (late.tx_hash, late.block_hash,
                                                                          late.chain_id)
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
    sent = client.anchor_root(root, 3, "ipfs://before-crash")
    assert _batches(client) == 1
    batch = anchor_pending(client, store)
    assert batch["note"] == "root was already anchored: found on chain, not sent again"
    assert batch["tx_hash"] == sent.tx_hash and batch["block_hash"] == sent.block_hash
    assert batch["batch_id"] == sent.batch_id and batch["gas_used"] == sent.gas_used
    assert _batches(client) == 1 and pending() == []
    for dispute_id in ids:
        verify_dispute(dispute_id)
        assert load_record(dispute_id)["anchor"]["tx_hash"] == sent.tx_hash
    # The reorg re-check covers it like any anchor (the embedded chain is final after one block).
    assert recheck_anchors(client, store) == []
    assert all(load_record(d)["anchor"]["final"] for d in ids)


def test_a_version_1_queue_entry_is_read_under_chain_id(tmp_path):
    from dalrn_core.podp.batch import entry_from_disk

    legacy = {"dispute_id": "old-1", "leaf": "ab" * 32, "receipt_cid": "bafk-old"}
    assert entry_from_disk(legacy) == {"chain_id": "old-1", "leaf": "ab" * 32, "receipt_cid": "bafk-old"}
    current = {"chain_id": "new-1", "leaf": "cd" * 32, "receipt_cid": "bafk-new"}
    assert entry_from_disk(current) is current


def test_receipts_appended_while_batches_anchor_are_never_lost(home):
    import threading

    from dalrn_core.podp.ledger import append_receipt, load_receipts, receipt_cids
    from dalrn_core.podp.receipts import receipt_leaf
    from dalrn_core.podp.signing import ReceiptSigner

    (chain_id,) = resolve_disputes(1, prefix="race")
    store, signer, client = LocalContentStore(), ReceiptSigner.from_key_file(), open_embedded_anchor()
    appended, done = list(receipt_cids(chain_id)), threading.Event()

    def grow() -> None:
        for i in range(12):
            appended.append(append_receipt(chain_id, f"step{i}", store, signer, outputs={"i": i}))
            queue_leaf(chain_id, receipt_leaf(load_receipts(chain_id, store)[-1]), appended[-1])
        done.set()

    grower = threading.Thread(target=grow)
    grower.start()
    while not done.is_set():
        anchor_pending(client, store)
    grower.join()
    anchor_pending(client, store)
    assert receipt_cids(chain_id) == appended  # every append survived the batches' record writes
    assert load_record(chain_id)["anchor"]["leaf_receipt_cid"] == appended[-1] and pending() == []
    verify_dispute(chain_id)

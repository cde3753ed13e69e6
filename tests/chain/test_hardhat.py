"""The production chain client against a real Hardhat 2 node on loopback: deploy, anchor,
confirmations, concurrent flows, a flaky RPC in between, a stuck transaction replaced with
higher fees, and a reorg that drops an anchor."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from statistics import median

import pytest
from eth_account import Account

from benchmarks.hardhat_node import FlakyProxy, HardhatNode, free_port, hardhat_missing, rpc
from blocks.chain import AnchorChain, chain_policy
from dalrn_core.chain.fees import Fees, quote_fees
from dalrn_core.chain.local import ANCHORER_KEY_FILE
from dalrn_core.chain.production import ChainConfig, RpcAnchorClient, deploy_rpc, ensure_anchored
from dalrn_core.dispute.records import load_record
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import anchor_pending
from dalrn_core.podp.merkle import merkle_proof, merkle_root
from dalrn_core.podp.reorg import recheck_anchors
from dalrn_core.podp.verify import verify_dispute
from tests.podp.conftest import resolve_disputes

pytestmark = pytest.mark.skipif(hardhat_missing() is not None, reason=str(hardhat_missing()))


@pytest.fixture(scope="module")
def node():
    key = os.urandom(32)
    hardhat = HardhatNode(key, chain_id=31337, interval_ms=200)
    try:
        config = ChainConfig(name="hardhat", chain_id=31337, rpc_url=hardhat.url, confirmations=2,
                             stuck_after_s=2.0, poll_s=0.1, timeout_s=60, rpc_attempts=3)
        account = Account.from_key(key)
        address = deploy_rpc(config, account)
        yield hardhat, config.with_(contract_address=address), account
    finally:
        hardhat.stop()


def _batch(n: int) -> tuple[list[bytes], bytes]:
    leaves = [os.urandom(32) for _ in range(n)]
    return leaves, merkle_root(leaves)


def _reorg(hardhat: HardhatNode, snapshot: str, tx_hash: str) -> None:
    """Revert to `snapshot` and drop `tx_hash` from the pool: a reorg whose new branch
    does not carry the transaction (else it could be re-mined in an identical block)."""
    rpc(hardhat.url, "evm_setIntervalMining", [0])
    try:
        rpc(hardhat.url, "evm_revert", [snapshot])
        rpc(hardhat.url, "hardhat_dropTransaction", [tx_hash])
        for _ in range(3):
            rpc(hardhat.url, "evm_mine")
    finally:
        rpc(hardhat.url, "evm_setIntervalMining", [200])


def _count(client: RpcAnchorClient) -> int:
    return client.contract.functions.batchCount().call()


def test_anchor_and_verify_with_confirmations(node):
    _, config, account = node
    client = RpcAnchorClient(config, account)
    leaves, root = _batch(16)
    result = client.anchor_root(root, 16, "ipfs://manifest")
    assert result.chain_id == 31337 and client.is_anchored(root)
    assert client.w3.eth.block_number - result.block_number + 1 >= config.confirmations
    assert all(client.verify_receipt(leaf, merkle_proof(leaves, i), root) for i, leaf in enumerate(leaves))
    assert not client.verify_receipt(os.urandom(32), merkle_proof(leaves, 0), root)
    assert ensure_anchored(client, result, 16, "ipfs://manifest") == result  # no reorg: unchanged


def test_fee_quote_follows_the_fee_history(node):
    _, config, account = node
    client, caps = RpcAnchorClient(config, account), config.caps

    def expected() -> Fees:
        history = client.w3.eth.fee_history(10, "latest", [50])
        tip = min(max(int(median(int(r[0]) for r in history["reward"])), caps.min_tip_wei), caps.max_tip_wei)
        return Fees(min(2 * history["baseFeePerGas"][-1] + tip, caps.max_fee_wei), tip)

    before = expected()
    fees = quote_fees(client.w3, caps)
    assert fees in (before, expected())  # a block may be mined in between


def test_wrong_chain_id_is_refused(node):
    _, config, account = node
    client = RpcAnchorClient(config.with_(chain_id=11155111), account)
    with pytest.raises(Exception, match="serves chain id 31337, configured 11155111"):
        client.anchor_root(os.urandom(32), 1, "x")


def test_concurrent_flows_share_one_nonce_manager(node):
    _, config, account = node
    client = RpcAnchorClient(config, account)
    roots = [_batch(2)[1] for _ in range(6)]
    before = _count(client)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda r: client.anchor_root(r, 2, "x"), roots))
    assert _count(client) == before + 6
    assert len({r.tx_hash for r in results}) == 6 and all(client.is_anchored(r) for r in roots)


def test_survives_a_flaky_rpc(node):
    hardhat, config, account = node
    proxy = FlakyProxy(hardhat.url, failure_rate=0.35, max_in_row=3, seed=11)
    try:
        client = RpcAnchorClient(config.with_(rpc_url=proxy.url, rpc_attempts=6), account)
        for _ in range(3):
            leaves, root = _batch(8)
            client.anchor_root(root, 8, "ipfs://flaky")
            assert client.verify_receipt(leaves[3], merkle_proof(leaves, 3), root)
        assert proxy.failed >= 5 and client.w3.provider.retries >= proxy.failed - 1
        assert all(count > 0 for count in proxy.failures.values()), proxy.failures
    finally:
        proxy.stop()


def test_stuck_transaction_is_replaced_with_higher_fees(node):
    hardhat, config, account = node
    client = RpcAnchorClient(config.with_(stuck_after_s=0.4), account)
    before = _count(client)
    _, root = _batch(4)
    rpc(hardhat.url, "evm_setIntervalMining", [0])
    rpc(hardhat.url, "evm_setAutomine", [False])
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            future = pool.submit(client.anchor_root, root, 4, "x")
            time.sleep(2.0)  # nothing is mined: the client replaces its transaction
            rpc(hardhat.url, "evm_setAutomine", [True])
            rpc(hardhat.url, "evm_setIntervalMining", [200])
            rpc(hardhat.url, "evm_mine")
            result = future.result(timeout=60)
    finally:
        rpc(hardhat.url, "evm_setAutomine", [True])
        rpc(hardhat.url, "evm_setIntervalMining", [200])
    sent = client.last_sent
    assert sent.replacements >= 1 and result.tx_hash in sent.tx_hashes
    assert result.tx_hash != sent.tx_hashes[0]
    mined = client.w3.eth.get_transaction(result.tx_hash)
    first = sent.fees[0]
    assert mined["maxFeePerGas"] * 10 >= first.max_fee_wei * 11
    assert mined["maxPriorityFeePerGas"] * 10 >= first.tip_wei * 11
    assert _count(client) == before + 1  # one anchor, however many replacements


def test_reorg_that_drops_an_anchor_is_repaired(node):
    hardhat, config, account = node
    client = RpcAnchorClient(config, account)
    snapshot = rpc(hardhat.url, "evm_snapshot")
    leaves, root = _batch(3)
    result = client.anchor_root(root, 3, "ipfs://reorg")
    assert client.is_anchored(root)
    _reorg(hardhat, snapshot, result.tx_hash)
    assert not client.is_anchored(root)
    before = _count(client)
    repaired = ensure_anchored(client, result, 3, "ipfs://reorg")
    # The anchoring's intent is still held (nothing recorded it yet), so the repair hands out
    # the very transaction it signed, with its nonce, in a new block: never a second one.
    assert repaired.tx_hash == result.tx_hash and repaired.block_hash != result.block_hash
    assert _count(client) == before + 1 and client.last_sent.tx_hashes[0] == result.tx_hash
    assert client.is_anchored(root) and client.verify_receipt(leaves[0], merkle_proof(leaves, 0), root)
    assert ensure_anchored(client, repaired, 3, "ipfs://reorg") == repaired


def test_thread_safety_of_nonces_under_the_lock(node):
    _, config, account = node
    client = RpcAnchorClient(config, account)
    taken, lock = [], threading.Lock()

    def take() -> None:
        with client.sender.nonces.reserve() as nonce, lock:
            taken.append(nonce)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == list(range(min(taken), min(taken) + 8))
    client.sender.nonces.reset()  # nothing was sent with them: forget the counter


def test_anchor_chain_blocks_with_fallback(node, tmp_path, monkeypatch):
    hardhat, config, account = node
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "home"))
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / ANCHORER_KEY_FILE).write_bytes(account.key)
    dead = AnchorChain(name="down", kind="rpc", chain_id=31337, rpc_url=f"http://127.0.0.1:{free_port()}",
                       contract_address=config.contract_address)
    live = AnchorChain(name="hardhat", kind="rpc", chain_id=31337, rpc_url=hardhat.url,
                       contract_address=config.contract_address, confirmations=1)
    assert isinstance(live.open(), RpcAnchorClient) and live.config().confirmations == 1
    policy = chain_policy([dead, live, AnchorChain()])
    _, root = _batch(5)
    result = policy.anchor_root(root, 5, "ipfs://policy")
    assert result.chain_id == 31337 and policy.failures[0].startswith("down:")
    assert policy.is_anchored(root)
    amoy = AnchorChain(name="amoy", kind="rpc", network="polygon-amoy", rpc_url=hardhat.url)
    assert amoy.config().chain_id == 80002  # and a node serving 31337 is refused
    with pytest.raises(Exception, match="serves chain id 31337, configured 80002"):
        RpcAnchorClient(amoy.config().with_(contract_address=config.contract_address), account).check_chain_id()


def test_anchor_re_mined_in_another_block_is_followed_not_repeated(node):
    hardhat, config, account = node
    client = RpcAnchorClient(config, account)
    snapshot = rpc(hardhat.url, "evm_snapshot")
    _, root = _batch(3)
    result = client.anchor_root(root, 3, "ipfs://again")
    mined = client.w3.eth.get_transaction(result.tx_hash)
    same = {"type": 2, "chainId": mined["chainId"], "nonce": mined["nonce"], "to": mined["to"],
            "value": mined["value"], "data": mined["input"], "gas": mined["gas"],
            "maxFeePerGas": mined["maxFeePerGas"], "maxPriorityFeePerGas": mined["maxPriorityFeePerGas"]}
    raw = account.sign_transaction(same).raw_transaction  # deterministic: the same transaction
    _reorg(hardhat, snapshot, result.tx_hash)
    client.w3.eth.send_raw_transaction(raw)  # the new branch carries it, in a later block
    before = _count(client)
    followed = ensure_anchored(client, result, 3, "ipfs://again")
    assert followed.tx_hash == result.tx_hash
    assert followed.block_hash != result.block_hash and followed.block_number > result.block_number
    assert _count(client) == before  # followed, not anchored a second time


def test_recheck_reanchors_a_batch_a_reorg_dropped(node, tmp_path, monkeypatch):
    hardhat, config, account = node
    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    ids = resolve_disputes(4)
    client, store = RpcAnchorClient(config, account), LocalContentStore()
    snapshot = rpc(hardhat.url, "evm_snapshot")
    batch = anchor_pending(client, store)
    assert recheck_anchors(client, store) == []  # nothing dropped yet
    _reorg(hardhat, snapshot, batch["tx_hash"])
    with pytest.raises(IntegrityError, match="is not anchored on chain 31337"):
        verify_dispute(ids[0], client=client)
    (repair,) = recheck_anchors(client, store)
    assert repair["root"] == batch["root"] and repair["old_tx"] == batch["tx_hash"] != repair["new_tx"]
    for dispute_id in ids:
        assert load_record(dispute_id)["anchor"]["tx_hash"] == repair["new_tx"]
        verify_dispute(dispute_id, client=client)

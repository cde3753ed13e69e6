"""Exactly-once anchoring against a real Hardhat 2 node on loopback: a sender killed between
broadcast and mining, a crash between writing the intent and broadcasting it, a stuck
transaction whose replacement state outlives the process, a nonce taken by another
transaction meanwhile. Each ends with one successful `anchorRoot` for the batch's root and
no reverted transaction."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from eth_account import Account

from benchmarks.hardhat_node import HardhatNode, hardhat_missing, rpc
from dalrn_core.chain.intents import IntentFile
from dalrn_core.chain.production import ChainConfig, RpcAnchorClient, deploy_rpc
from dalrn_core.chain.sender import TxSender
from dalrn_core.config import sub_dir
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.anchoring import anchor_chain
from dalrn_core.podp.batch import anchor_pending, pending
from dalrn_core.podp.merkle import merkle_root
from dalrn_core.podp.verify import verify_dispute
from tests.podp.conftest import resolve_disputes

pytestmark = pytest.mark.skipif(hardhat_missing() is not None, reason=str(hardhat_missing()))

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import json, os
from eth_account import Account
from dalrn_core.chain.production import ChainConfig, RpcAnchorClient
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import anchor_pending
config = ChainConfig(**json.loads(os.environ["DALRN_TEST_CHAIN"]))
account = Account.from_key(bytes.fromhex(os.environ["DALRN_TEST_KEY"]))
anchor_pending(RpcAnchorClient(config, account), LocalContentStore())
"""


class _Crash(BaseException):
    """The process dies here: no handler runs, nothing after it is written."""


@pytest.fixture(scope="module")
def node():
    key = os.urandom(32)
    hardhat = HardhatNode(key, chain_id=31337, interval_ms=200)
    try:
        config = ChainConfig(name="hardhat", chain_id=31337, rpc_url=hardhat.url, confirmations=1,
                             stuck_after_s=30.0, poll_s=0.1, timeout_s=60, rpc_attempts=3)
        account = Account.from_key(key)
        yield hardhat, config.with_(contract_address=deploy_rpc(config, account)), account
    finally:
        hardhat.stop()


@pytest.fixture()
def home(data_home, tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    return data_home


def _pause_mining(url: str) -> None:
    rpc(url, "evm_setIntervalMining", [0])
    rpc(url, "evm_setAutomine", [False])


def _resume_mining(url: str) -> None:
    rpc(url, "evm_setAutomine", [True])
    rpc(url, "evm_setIntervalMining", [200])


def _intent_files() -> list[Path]:
    return sorted(sub_dir("chain", "intents").glob("*/*.json"))


def _recorded_intent():
    (path,) = _intent_files()
    return IntentFile(path).load()


def _sent_since(client: RpcAnchorClient, block: int) -> list[tuple[dict, dict]]:
    """Every transaction the anchorer got mined after `block`, with its receipt."""
    w3, sent = client.w3, []
    for number in range(block + 1, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == client.account.address:
                sent.append((tx, w3.eth.get_transaction_receipt(tx["hash"])))
    return sent


def _assert_anchored_once(client: RpcAnchorClient, start: int, root: bytes, batch: dict) -> None:
    sent = _sent_since(client, start)
    assert all(receipt["status"] == 1 for _, receipt in sent), "a transaction reverted"
    anchors = [tx for tx, _ in sent if tx["to"] == client.address]
    assert len(anchors) == 1 and "0x" + bytes(anchors[0]["hash"]).hex() == batch["tx_hash"]
    events = client.contract.events.RootAnchored().get_logs(argument_filters={"root": root}, from_block=start + 1)
    assert len(events) == 1
    assert _intent_files() == [] and not (sub_dir("anchor") / "inflight.json").exists()
    for chain_id in batch["chains"]:
        verify_dispute(chain_id, client=client)


@pytest.mark.parametrize("node_kept_it", [True, False], ids=["still-pooled", "node-forgot-it"])
def test_a_sender_killed_between_broadcast_and_mining_anchors_once(node, home, node_kept_it):
    hardhat, config, account = node
    ids = resolve_disputes(3, prefix="killed")
    root = merkle_root([bytes.fromhex(e["leaf"]) for e in pending()])
    client = RpcAnchorClient(config, account)
    start = client.w3.eth.block_number
    _pause_mining(hardhat.url)
    try:
        env = {**os.environ, "DALRN_TEST_CHAIN": json.dumps(asdict(config)), "DALRN_TEST_KEY": account.key.hex(),
               "PYTHONPATH": str(REPO)}
        child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, env=env)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # until the transaction is on the node, unmined
                files = _intent_files()
                if files and rpc(hardhat.url, "eth_getTransactionByHash", [_recorded_intent().tx_hashes[0]]):
                    break
                assert child.poll() is None, "the sender ended before it broadcast"
                time.sleep(0.1)
            else:
                pytest.fail("the sender did not broadcast within 60 s")
        finally:
            child.kill()
            child.wait(timeout=30)
        broadcast = _recorded_intent().tx_hashes[0]
        if not node_kept_it:
            rpc(hardhat.url, "hardhat_dropTransaction", [broadcast])
    finally:
        _resume_mining(hardhat.url)

    batch = anchor_pending(RpcAnchorClient(config, account), LocalContentStore())  # the restarted process
    assert batch["chains"] == ids and batch["tx_hash"] == broadcast  # the same signed transaction
    _assert_anchored_once(client, start, root, batch)


def test_an_intent_written_just_before_a_crash_is_broadcast_after_the_restart(node, home, monkeypatch):
    _, config, account = node
    ids = resolve_disputes(2, prefix="unsent")
    root = merkle_root([bytes.fromhex(e["leaf"]) for e in pending()])
    client = RpcAnchorClient(config, account)
    start = client.w3.eth.block_number
    with monkeypatch.context() as patch:
        def die(self, version):
            raise _Crash

        patch.setattr(TxSender, "_broadcast", die)
        with pytest.raises(_Crash):
            anchor_pending(RpcAnchorClient(config, account), LocalContentStore())
    recorded = _recorded_intent()
    with pytest.raises(Exception, match="not found"):
        client.w3.eth.get_transaction(recorded.tx_hashes[0])  # it never left the machine

    batch = anchor_pending(RpcAnchorClient(config, account), LocalContentStore())
    assert batch["chains"] == ids and batch["tx_hash"] == recorded.tx_hashes[0]
    _assert_anchored_once(client, start, root, batch)


def test_replacement_state_survives_a_restart(node, home, monkeypatch):
    hardhat, config, account = node
    resolve_disputes(2, prefix="stuck")
    root = merkle_root([bytes.fromhex(e["leaf"]) for e in pending()])
    client = RpcAnchorClient(config, account)
    start = client.w3.eth.block_number
    _pause_mining(hardhat.url)
    try:
        with monkeypatch.context() as patch:
            def die(self, recorded, intent):
                raise _Crash

            patch.setattr(TxSender, "_wait", die)  # broadcast, then the process dies waiting
            with pytest.raises(_Crash):
                anchor_pending(RpcAnchorClient(config, account), LocalContentStore())
        first = _recorded_intent()
        assert len(first.versions) == 1
        time.sleep(0.6)  # longer than the restarted sender's stuck_after_s, counted from the broadcast
        restarted = RpcAnchorClient(config.with_(stuck_after_s=0.5), account)
        result: dict = {}
        worker = threading.Thread(target=lambda: result.update(
            batch=anchor_pending(restarted, LocalContentStore())))
        worker.start()
        deadline = time.monotonic() + 30
        def replaced() -> bool:  # recorded (before it is broadcast), then on the node
            versions = _recorded_intent().versions
            return len(versions) >= 2 and bool(rpc(hardhat.url, "eth_getTransactionByHash", [versions[-1].tx_hash]))

        while not replaced():  # nothing is mined: it replaces the recorded one
            assert time.monotonic() < deadline, "the restarted sender never replaced the stuck transaction"
            time.sleep(0.05)
    finally:
        _resume_mining(hardhat.url)
    worker.join(timeout=60)
    batch = result["batch"]
    sent = restarted.last_sent
    assert sent.nonce == first.nonce and sent.tx_hashes[0] == first.tx_hashes[0] and sent.replacements >= 1
    mined = client.w3.eth.get_transaction(batch["tx_hash"])
    assert mined["nonce"] == first.nonce  # one nonce: at most one of the versions can be mined
    assert mined["maxFeePerGas"] * 8 >= first.versions[0].max_fee_wei * 9  # bumped from what was recorded
    _assert_anchored_once(client, start, root, batch)


def test_a_nonce_taken_meanwhile_gives_the_intent_up_and_anchors_once(node, home, monkeypatch):
    _, config, account = node
    resolve_disputes(2, prefix="taken")
    root = merkle_root([bytes.fromhex(e["leaf"]) for e in pending()])
    client = RpcAnchorClient(config, account)
    start = client.w3.eth.block_number
    with monkeypatch.context() as patch:
        def die(self, version):
            raise _Crash

        patch.setattr(TxSender, "_broadcast", die)
        with pytest.raises(_Crash):
            anchor_pending(RpcAnchorClient(config, account), LocalContentStore())
    recorded = _recorded_intent()
    base = client.w3.eth.get_block("latest")["baseFeePerGas"]
    other = {"to": account.address, "value": 1, "gas": 21000, "nonce": recorded.nonce, "chainId": 31337,
             "maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9}  # a wallet used the key
    client.w3.eth.wait_for_transaction_receipt(
        client.w3.eth.send_raw_transaction(account.sign_transaction(other).raw_transaction), timeout=30)

    batch = anchor_pending(RpcAnchorClient(config, account), LocalContentStore())
    assert batch["tx_hash"] != recorded.tx_hashes[0]
    _assert_anchored_once(client, start, root, batch)


def test_a_node_serving_another_chain_fails_loudly_instead_of_pending(node, home):
    _, config, account = node
    (chain_id,) = resolve_disputes(1, prefix="wrong")
    with pytest.raises(IntegrityError, match="serves chain id 31337, configured 11155111"):
        anchor_chain(chain_id, LocalContentStore(), lambda: RpcAnchorClient(config.with_(chain_id=11155111), account),
                     delays=(), sleep=lambda s: None)
    assert [e["chain_id"] for e in pending()] == [chain_id]

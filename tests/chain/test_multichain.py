"""Two in-process chains with different chain ids: fallback from a dead primary, the same
root verified on both, chain-id replay protection, and the shipped network configs."""

from __future__ import annotations

import os

import pytest
from eth_account import Account

from benchmarks.hardhat_node import free_port
from dalrn_core.chain.anchor import AnchorClient, deploy_anchor_contract
from dalrn_core.chain.embedded import EmbeddedChain
from dalrn_core.chain.multichain import FallbackAnchorClient, verify_cross_chain
from dalrn_core.chain.production import ChainConfig, RpcAnchorClient, load_network
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.podp.merkle import merkle_proof, merkle_root


def _chain(tmp_path, account, chain_id: int) -> AnchorClient:
    chain = EmbeddedChain(tmp_path / f"chain-{chain_id}.jsonl", [account.address], chain_id=chain_id)
    address = deploy_anchor_contract(chain.w3, account, chain.send_raw_transaction)
    client = AnchorClient(chain.w3, account, chain.send_raw_transaction, address)
    client.chain = chain
    return client


@pytest.fixture()
def two_chains(tmp_path):
    account = Account.create()
    return _chain(tmp_path, account, 5001), _chain(tmp_path, account, 5002)


def _dead_chain(account) -> RpcAnchorClient:
    config = ChainConfig(name="dead", chain_id=5000, rpc_url=f"http://127.0.0.1:{free_port()}",
                         contract_address="0x" + "11" * 20, rpc_attempts=2, rpc_timeout_s=2)
    return RpcAnchorClient(config, account)


def test_chain_ids_differ_and_journals_keep_them(two_chains, tmp_path):
    a, b = two_chains
    assert (a.w3.eth.chain_id, b.w3.eth.chain_id) == (5001, 5002)
    reopened = EmbeddedChain(tmp_path / "chain-5002.jsonl", [a.account.address])
    assert reopened.chain_id == 5002


def test_transaction_for_another_chain_is_refused(two_chains):
    a, b = two_chains
    tx = {"to": a.account.address, "value": 1, "gas": 21000, "chainId": 5001,
          "nonce": b.w3.eth.get_transaction_count(a.account.address),
          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    with pytest.raises(IntegrityError, match="signed for chain id 5001, this chain is 5002"):
        b.chain.send_raw_transaction(a.account.sign_transaction(tx).raw_transaction)


def test_same_root_verified_on_two_chains(two_chains):
    a, b = two_chains
    leaves = [os.urandom(32) for _ in range(10)]
    root = merkle_root(leaves)
    ra, rb = a.anchor_root(root, 10, "ipfs://m"), b.anchor_root(root, 10, "ipfs://m")
    assert (ra.chain_id, rb.chain_id) == (5001, 5002)
    held = verify_cross_chain([a, b], root, leaves[4], merkle_proof(leaves, 4))
    assert held == [f"root anchored on chain 5001 at {a.address}", f"root anchored on chain 5002 at {b.address}"]
    with pytest.raises(IntegrityError, match="rejects the inclusion proof"):
        verify_cross_chain([a, b], root, os.urandom(32), merkle_proof(leaves, 4))


def test_root_on_one_chain_only_fails_cross_check(two_chains):
    a, b = two_chains
    root = merkle_root([os.urandom(32), os.urandom(32)])
    a.anchor_root(root, 2, "x")
    with pytest.raises(IntegrityError, match=f"root 0x{root.hex()} is not anchored on chain 5002"):
        verify_cross_chain([a, b], root)
    with pytest.raises(IntegrityError, match="two distinct chains"):
        verify_cross_chain([a, a], root)


def test_fallback_when_the_primary_is_down(two_chains):
    a, b = two_chains
    dead = _dead_chain(a.account)
    policy = FallbackAnchorClient([dead, b, a])
    root = merkle_root([os.urandom(32)])
    result = policy.anchor_root(root, 1, "x")
    assert result.chain_id == 5002 and len(policy.failures) == 1 and policy.failures[0].startswith("dead:")
    assert policy.is_anchored(root) and not a.is_anchored(root)


def test_every_chain_down_raises(two_chains):
    a, _ = two_chains
    policy = FallbackAnchorClient([_dead_chain(a.account), _dead_chain(a.account)])
    with pytest.raises(ConnectionError, match="every chain failed"):
        policy.anchor_root(os.urandom(32), 1, "x")


def test_shipped_networks(monkeypatch):
    monkeypatch.delenv("DALRN_SEPOLIA_RPC_URL", raising=False)
    with pytest.raises(InputError, match="rpc_url: set DALRN_SEPOLIA_RPC_URL"):
        load_network("sepolia")
    monkeypatch.setenv("DALRN_SEPOLIA_RPC_URL", "http://127.0.0.1:8545")
    sepolia = load_network("sepolia")
    amoy = load_network("polygon-amoy", rpc_url="http://127.0.0.1:8546")
    assert (sepolia.chain_id, amoy.chain_id) == (11155111, 80002)
    assert sepolia.caps.max_fee_wei == 50 * 10**9 and amoy.caps.min_tip_wei == 25 * 10**9
    with pytest.raises(InputError, match="unknown network 'mainnet'; shipped: polygon-amoy, sepolia"):
        load_network("mainnet")

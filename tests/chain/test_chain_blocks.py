"""AnchorChain blocks saved and loaded through a Prefect server: the key from a Secret
block, fallbacks by block name, and the EvidenceStore block's backends."""

from __future__ import annotations

import os

from eth_account import Account

from benchmarks.hardhat_node import free_port


def test_saved_chain_with_secret_key_falls_back_by_name(harness, tmp_path, monkeypatch):
    from prefect.blocks.system import Secret

    from blocks.chain import AnchorChain
    from dalrn_core.chain.multichain import FallbackAnchorClient
    from dalrn_core.chain.production import RpcAnchorClient

    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    key = Account.create()
    Secret(value=key.key.hex()).save("test-anchorer-key", overwrite=True)
    AnchorChain(name="embedded").save("test-embedded", overwrite=True)
    AnchorChain(name="amoy", kind="rpc", network="polygon-amoy", rpc_url=f"http://127.0.0.1:{free_port()}",
                contract_address="0x" + "33" * 20, key_secret="test-anchorer-key",
                fallbacks=["test-embedded"]).save("test-amoy", overwrite=True)

    loaded = AnchorChain.load("test-amoy")
    assert loaded.config().chain_id == 80002 and loaded.fallbacks == ["test-embedded"]
    primary = loaded.open_one()
    assert isinstance(primary, RpcAnchorClient) and primary.account.address == key.address
    policy = loaded.open()
    assert isinstance(policy, FallbackAnchorClient) and len(policy.clients) == 2
    result = policy.anchor_root(os.urandom(32), 1, "ipfs://x")
    assert result.chain_id == policy.clients[1].w3.eth.chain_id and policy.failures[0].startswith("amoy:")

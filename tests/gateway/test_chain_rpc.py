"""The read-only chain RPC: reads answer what web3 reads directly; writes and bad bodies are refused."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from benchmarks.hardhat_node import HardhatNode, hardhat_missing
from dalrn_core.chain.local import open_embedded_anchor
from gateway.routers.chain_rpc import MAX_BATCH, PATH, READ_METHODS
from tests.gateway.gateway_app import client_of, make_app
from tests.gateway.live_app import live

pytestmark = pytest.mark.timeout(180)


@pytest.fixture()
def anchored(home):
    """A root anchored on the embedded chain of this test's data folder, and the gateway over it."""
    client = open_embedded_anchor()
    root = os.urandom(32)
    result = client.anchor_root(root, 2, "dalrn://manifest/test")
    app = make_app(home)
    with live(app) as url:
        yield url, client, root, result, app


def _without_block_hashes(receipt) -> dict:
    out = {k: v for k, v in receipt.items() if k not in ("blockHash", "state_root")}
    out["logs"] = [{k: v for k, v in log.items() if k != "blockHash"} for log in receipt["logs"]]
    return out


def test_reads_answer_what_web3_reads_directly(anchored):
    url, client, root, result, app = anchored
    through = Web3(HTTPProvider(url + PATH))  # an ordinary JSON-RPC client, over the gateway
    assert through.eth.chain_id == client.w3.eth.chain_id == result.chain_id
    direct = app.state.chain_rpc_client.w3  # the chain the gateway reads, read by web3 itself
    assert through.eth.block_number == direct.eth.block_number == client.w3.eth.block_number
    receipt = through.eth.get_transaction_receipt(result.tx_hash)
    # eth-tester adds `state_root` (b"\\x01"), a field of no JSON-RPC receipt: the endpoint leaves it out.
    assert receipt == {k: v for k, v in direct.eth.get_transaction_receipt(result.tx_hash).items() if k != "state_root"}
    # The anchoring process's own replay of the journal agrees on everything but block hashes
    # (py-evm draws each block's mix hash afresh on every replay of the embedded chain).
    assert _without_block_hashes(receipt) == _without_block_hashes(client.w3.eth.get_transaction_receipt(result.tx_hash))
    sent, seen = direct.eth.get_transaction(result.tx_hash), through.eth.get_transaction(result.tx_hash)
    for field in ("hash", "from", "to", "input", "nonce", "blockNumber", "blockHash", "value", "gas"):
        assert seen[field] == sent[field], field
    block = through.eth.get_block(result.block_number)
    assert block["hash"] == direct.eth.get_block(result.block_number)["hash"]
    assert through.eth.get_block(block["hash"])["transactions"] == [bytes.fromhex(result.tx_hash[2:])]
    assert through.eth.get_code(client.address) == direct.eth.get_code(client.address)
    # The contract read through it: the root is anchored, and its RootAnchored log is there.
    contract = through.eth.contract(address=client.address, abi=client.contract.abi)
    assert contract.functions.isAnchored(root).call() is True
    assert contract.functions.isAnchored(os.urandom(32)).call() is False
    logs = contract.events.RootAnchored().get_logs(argument_filters={"root": root}, from_block=0)
    assert [bytes(log["transactionHash"]) for log in logs] == [bytes.fromhex(result.tx_hash[2:])]
    assert logs[0]["args"]["leafCount"] == 2 and logs[0]["args"]["manifestUri"] == "dalrn://manifest/test"


def test_the_receipt_is_json_rpc_wire_form(anchored):
    url, client, root, result, _app = anchored
    answer = httpx.post(url + PATH, json={"jsonrpc": "2.0", "id": 7, "method": "eth_getTransactionReceipt",
                                          "params": [result.tx_hash]})
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == 7 and "error" not in body
    receipt = body["result"]
    assert receipt["status"] == "0x1" and receipt["transactionHash"] == result.tx_hash
    assert receipt["blockNumber"] == hex(result.block_number)
    (log,) = receipt["logs"]
    assert log["address"].lower() == client.address.lower() and log["topics"][1] == "0x" + root.hex()
    missing = httpx.post(url + PATH, json={"jsonrpc": "2.0", "id": 8, "method": "eth_getTransactionReceipt",
                                           "params": ["0x" + "00" * 32]}).json()
    assert missing == {"jsonrpc": "2.0", "id": 8, "result": None}


@pytest.mark.parametrize("method", ["eth_sendRawTransaction", "eth_sendTransaction", "eth_sign", "personal_sign",
                                    "personal_unlockAccount", "eth_accounts", "debug_traceTransaction",
                                    "evm_mine", "eth_estimateGas"])
def test_anything_but_a_read_is_refused_naming_the_method(home, method):
    app = make_app(home)
    open_embedded_anchor()
    with client_of(app) as http:
        before = http.post(PATH, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}).json()["result"]
        answer = http.post(PATH, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": ["0x00"]})
        assert answer.status_code == 200
        error = answer.json()["error"]
        assert error["code"] == -32601 and method in error["message"] and "read methods" in error["message"]
        assert error["data"]["rule"] == "read-only" and error["data"]["allowed"] == list(READ_METHODS)
        after = http.post(PATH, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber"}).json()["result"]
        assert after == before  # nothing reached the chain


def test_a_signed_transaction_never_reaches_the_chain(home):
    client = open_embedded_anchor()
    stranger = Account.create()
    raw = stranger.sign_transaction({"to": client.address, "value": 0, "gas": 100_000, "gasPrice": 10**9, "nonce": 0,
                                     "chainId": client.w3.eth.chain_id, "data": "0x"}).raw_transaction
    with client_of(make_app(home)) as http:
        answer = http.post(PATH, json=[{"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                        "params": ["0x" + raw.hex()]},
                                       {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId"}])
        first, second = answer.json()
        assert first["id"] == 1 and first["error"]["code"] == -32601 and "eth_sendRawTransaction" in first["error"]["message"]
        assert second == {"jsonrpc": "2.0", "id": 2, "result": hex(client.w3.eth.chain_id)}
    client.sync()
    assert client.w3.eth.get_transaction_count(stranger.address) == 0


def test_malformed_bodies_are_4xx_never_a_traceback(home):
    open_embedded_anchor()
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}
    with client_of(make_app(home)) as http:
        for body, headers in [(b"{not json", {"Content-Type": "application/json"}),
                              (b"eth_chainId", {"Content-Type": "text/plain"}),
                              (b"", {"Content-Type": "application/json"}),
                              (b'"eth_chainId"', {"Content-Type": "application/json"}),
                              (b'{"jsonrpc": "1.0", "id": 1, "method": "eth_chainId"}', {"Content-Type": "application/json"}),
                              (b'{"jsonrpc": "2.0", "id": 1}', {"Content-Type": "application/json"}),
                              (b'{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": 5}',
                               {"Content-Type": "application/json"}),
                              (b"[]", {"Content-Type": "application/json"})]:
            answer = http.post(PATH, content=body, headers=headers)
            assert 400 <= answer.status_code < 500, (body, answer.status_code, answer.text)
            assert set(answer.json()["error"]) >= {"code", "message"}, answer.text
            assert "Traceback" not in answer.text
        too_many = http.post(PATH, json=[call] * (MAX_BATCH + 1))
        assert too_many.status_code == 422 and str(MAX_BATCH) in too_many.text
        assert len(http.post(PATH, json=[call] * MAX_BATCH).json()) == MAX_BATCH
        # Params the chain cannot read are a JSON-RPC error naming the method, not a 500.
        bad = http.post(PATH, json={**call, "method": "eth_getTransactionReceipt", "params": ["zz"]})
        assert bad.status_code == 200 and bad.json()["error"]["code"] == -32602
        assert "eth_getTransactionReceipt" in bad.json()["error"]["message"]
        unknown = http.post(PATH + "?chain_id=5", json=call)
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "chain.not_found"


def test_the_chain_is_chosen_by_id_and_callers_are_rate_limited(home):
    client = open_embedded_anchor()
    call = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}
    with client_of(make_app(home, rate_limit="3/minute")) as http:
        chosen = http.post(f"{PATH}?chain_id={client.w3.eth.chain_id}", json=call)
        assert chosen.status_code == 200 and chosen.json()["result"] == hex(client.w3.eth.chain_id)
        assert [http.post(PATH, json=call).status_code for _ in range(3)] == [200, 200, 429]
        limited = http.post(PATH, json=call)
        assert limited.json()["error"]["code"] == "rate_limited" and "Retry-After" in limited.headers


@pytest.mark.skipif(hardhat_missing() is not None, reason=str(hardhat_missing()))
def test_a_json_rpc_node_is_forwarded_as_it_answers(home):
    """Production: the gateway anchors on a JSON-RPC node (Hardhat here); reads are the node's own answers."""
    from dalrn_core.chain.production import ChainConfig, RpcAnchorClient, deploy_rpc

    key = os.urandom(32)
    hardhat = HardhatNode(key, chain_id=31337, interval_ms=200)
    try:
        account = Account.from_key(key)
        config = ChainConfig(name="hardhat", chain_id=31337, rpc_url=hardhat.url, confirmations=1, poll_s=0.1,
                             timeout_s=60, rpc_attempts=3)
        config = config.with_(contract_address=deploy_rpc(config, account))
        client = RpcAnchorClient(config, account)
        root = os.urandom(32)
        result = client.anchor_root(root, 1, "dalrn://manifest/hardhat")
        app = make_app(home)
        app.state.chain_rpc_client = client  # what anchor_client() opens for an `rpc` AnchorChain block
        with live(app) as url:
            through = Web3(HTTPProvider(url + PATH + "?chain_id=31337"))
            direct = Web3(HTTPProvider(hardhat.url))
            assert through.eth.chain_id == 31337
            assert through.eth.get_transaction_receipt(result.tx_hash) == direct.eth.get_transaction_receipt(result.tx_hash)
            assert through.eth.get_block(result.block_number) == direct.eth.get_block(result.block_number)
            contract = through.eth.contract(address=client.address, abi=client.contract.abi)
            assert contract.functions.isAnchored(root).call() is True
            raw = account.sign_transaction({"to": client.address, "value": 0, "gas": 100_000, "gasPrice": 10**10,
                                            "nonce": direct.eth.get_transaction_count(account.address),
                                            "chainId": 31337, "data": "0x"}).raw_transaction
            refused = httpx.post(url + PATH, json={"jsonrpc": "2.0", "id": 3, "method": "eth_sendRawTransaction",
                                                   "params": ["0x" + raw.hex()]}).json()
            assert refused["error"]["code"] == -32601
            nonce = direct.eth.get_transaction_count(account.address)
            time.sleep(0.5)  # a few mining intervals: the refused transaction never reached the node
            assert direct.eth.get_transaction_count(account.address) == nonce
            assert direct.eth.get_transaction_count(account.address, "pending") == nonce
    finally:
        hardhat.stop()

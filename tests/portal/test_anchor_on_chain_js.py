"""The portal's on-chain root check (portal/src/verify.js `verifyAnchorOnChain`) run by Node
against a real anchor: a Merkle root of `dalrn_core.podp.merkle` anchored on the embedded
chain, read through the gateway's read-only JSON-RPC endpoint. It passes for the anchoring
transaction and names the rule each lie breaks: a root that is not the one anchored, another
real transaction of the contract, a transaction the chain never mined, another contract,
another chain id, another block."""

from __future__ import annotations

import os

import httpx
import pytest

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.podp.merkle import merkle_proof, merkle_root
from gateway.routers.chain_rpc import PATH
from tests.gateway.gateway_app import make_app
from tests.gateway.live_app import live
from tests.portal.node_js import run_module

pytestmark = pytest.mark.timeout(180)
RUNNER = """
import { readFileSync } from "node:fs";
import { verifyAnchorOnChain, ROOT_ANCHORED_TOPIC } from "./src/verify.js";
const job = JSON.parse(readFileSync(0, "utf8"));
const rpc = async (method, params) => {
  const answer = await fetch(job.url, { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = await answer.json();
  if (!answer.ok) throw new Error(`HTTP ${answer.status}`);
  if (body.error) throw new Error(body.error.message);
  return body.result;
};
const out = { topic: ROOT_ANCHORED_TOPIC, cases: {} };
for (const [name, proof] of Object.entries(job.cases)) out.cases[name] = await verifyAnchorOnChain({ proof, rpc });
process.stdout.write(JSON.stringify(out));
"""


def _node(job: dict) -> dict:
    return run_module(RUNNER, job)


def test_the_root_is_checked_on_chain_and_each_lie_names_its_rule(home):
    client = open_embedded_anchor()
    leaves = [os.urandom(32) for _ in range(3)]
    root = merkle_root(leaves)
    result = client.anchor_root(root, len(leaves), "dalrn://manifest/portal-test")
    other_leaves = [os.urandom(32) for _ in range(2)]
    other = client.anchor_root(merkle_root(other_leaves), 2, "dalrn://manifest/other")
    deploy_tx = "0x" + bytes(client.w3.eth.get_block(1)["transactions"][0]).hex()
    proof = {"leaf": "0x" + leaves[1].hex(), "proof": ["0x" + p.hex() for p in merkle_proof(leaves, 1)],
             "root": "0x" + root.hex(),
             "chain": {"chain_id": result.chain_id, "contract": result.contract, "tx_hash": result.tx_hash,
                       "block_number": result.block_number, "block_hash": result.block_hash}}

    def lie(**chain) -> dict:
        return {**proof, "chain": {**proof["chain"], **chain}}

    cases = {
        "honest": proof,
        "honest, no chain id": lie(chain_id=None),
        # The server's word made consistent with itself: another anchored batch's root, leaf and proof...
        "another batch's transaction": lie(tx_hash=other.tx_hash, block_number=other.block_number),
        # ...or any real transaction of the contract, or one the chain never mined.
        "the deployment transaction": lie(tx_hash=deploy_tx, block_number=1),
        "an unmined transaction": lie(tx_hash="0x" + "ab" * 32),
        "another contract": lie(contract="0x" + "12" * 20),
        "another chain id": lie(chain_id=result.chain_id + 1),
        "another block": lie(block_number=result.block_number + 7),
        "siblings that lead elsewhere": {**proof, "proof": ["0x" + os.urandom(32).hex()]},
    }
    with live(make_app(home)) as url:
        assert httpx.post(url + PATH, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}).status_code == 200
        out = _node({"url": url + PATH, "cases": cases})

    assert out["topic"] == "0x" + str(client.contract.events.RootAnchored().topic).removeprefix("0x")
    got = out["cases"]
    assert all(r["rule"] == "on-chain root" for r in got.values())
    assert got["honest"]["ok"] is True and got["honest, no chain id"]["ok"] is True, got["honest"]
    assert root.hex()[:16] in got["honest"]["detail"] and "status 0x1" in got["honest"]["detail"]
    expected = {"another batch's transaction": "rule anchored root on chain:",
                "the deployment transaction": "rule RootAnchored log:",
                "an unmined transaction": "rule transaction receipt:",
                "another contract": "rule RootAnchored log:",
                "another chain id": "rule chain id:",
                "another block": "rule block:",
                "siblings that lead elsewhere": "rule anchored root on chain:"}
    for name, start in expected.items():
        assert got[name]["ok"] is False and got[name]["detail"].startswith(start), (name, got[name])

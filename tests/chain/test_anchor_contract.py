"""AnchorReceipts on the embedded EVM: anchoring, proofs on chain, every revert path, and
state that survives into a new process."""

import json
import os
import subprocess
import sys

import pytest
from eth_account import Account

from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.errors import IntegrityError
from dalrn_core.podp.merkle import merkle_proof, merkle_root


@pytest.fixture()
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    return open_embedded_anchor()


def test_anchor_and_verify_on_chain(client):
    leaves = [os.urandom(32) for _ in range(6)]
    root = merkle_root(leaves)
    result = client.anchor_root(root, len(leaves), "ipfs://manifest")
    assert result.batch_id == 0 and client.is_anchored(root)
    for i, leaf in enumerate(leaves):
        assert client.verify_receipt(leaf, merkle_proof(leaves, i), root)
    assert not client.verify_receipt(os.urandom(32), merkle_proof(leaves, 0), root)
    # A valid proof against a root that was never anchored is refused (NotAnchored).
    other = [os.urandom(32), os.urandom(32)]
    assert not client.verify_receipt(other[0], merkle_proof(other, 0), merkle_root(other))


@pytest.mark.parametrize(
    "root,count,error",
    [(b"\x00" * 32, 1, "ZeroRoot"), (b"\x05" * 32, 0, "EmptyBatch")],
)
def test_reverts(client, root, count, error):
    with pytest.raises(IntegrityError, match=error):
        client.anchor_root(root, count, "x")


def test_anchoring_twice_reverts(client):
    client.anchor_root(b"\x09" * 32, 1, "x")
    with pytest.raises(IntegrityError, match="AlreadyAnchored"):
        client.anchor_root(b"\x09" * 32, 1, "x")


def test_only_anchorers_may_anchor(client):
    outsider = Account.create()
    chain = client.chain
    funder = client.account
    # Fund the outsider so the refusal comes from the role check, not from gas.
    tx = {"to": outsider.address, "value": 10**18, "gas": 21000, "nonce": chain.w3.eth.get_transaction_count(funder.address),
          "chainId": chain.chain_id, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    chain.send_raw_transaction(funder.sign_transaction(tx).raw_transaction)
    intruder = AnchorClient(chain.w3, outsider, chain.send_raw_transaction, client.address)
    with pytest.raises(IntegrityError, match="AccessControlUnauthorizedAccount"):
        intruder.anchor_root(b"\x0a" * 32, 1, "x")


def test_state_survives_a_new_process(client, tmp_path):
    root = merkle_root([b"\x33" * 32, b"\x44" * 32])
    client.anchor_root(root, 2, "ipfs://m")
    code = ("from dalrn_core.chain.local import open_embedded_anchor; import sys; "
            f"print(open_embedded_anchor().is_anchored(bytes.fromhex('{root.hex()}')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=os.environ.copy(), timeout=120)
    assert out.stdout.strip() == "True"


def test_tampered_journal_is_refused(client):
    client.anchor_root(b"\x21" * 32, 1, "x")
    journal = client.chain.journal_path
    lines = journal.read_text().splitlines()
    entry = json.loads(lines[-1])
    entry["tx_hash"] = "0x" + "00" * 32
    lines[-1] = json.dumps(entry)
    journal.write_text("\n".join(lines) + "\n")
    with pytest.raises(IntegrityError, match="transaction hash differs"):
        open_embedded_anchor()

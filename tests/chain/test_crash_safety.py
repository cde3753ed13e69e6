"""What an unreachable chain or a misconfiguration leaves behind: an unreachable chain is
"unknown" and never "not anchored" where it may hold a root, a misconfiguration raises
instead of leaving disputes pending, and no RPC URL secret reaches a receipt or a log."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from eth_account import Account

from benchmarks.hardhat_node import free_port
from dalrn_core.chain.errors import AnchorStateUnknown
from dalrn_core.chain.intents import IntentFile, SignedVersion, TxIntent
from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.chain.multichain import FallbackAnchorClient
from dalrn_core.chain.production import ChainConfig, RpcAnchorClient
from dalrn_core.chain.rpc import RPCRefused
from dalrn_core.dispute.records import STATUS_ANCHOR_PENDING, load_record
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.anchoring import anchor_chain
from dalrn_core.podp.batch import anchor_pending, pending
from dalrn_core.podp.ledger import append_receipt, load_receipts
from dalrn_core.podp.merkle import merkle_root
from dalrn_core.podp.signing import ReceiptSigner
from tests.podp.conftest import resolve_disputes

MARKER = "Zq7MARKERsecret0123456789"


@pytest.fixture()
def home(data_home, tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path


# --- unknown is not "not anchored" ------------------------------------------------------

def _down(url: str | None = None) -> RpcAnchorClient:
    config = ChainConfig(name="down", chain_id=1, rpc_url=url or f"http://127.0.0.1:{free_port()}",
                         contract_address="0x" + "33" * 20, rpc_attempts=2, rpc_timeout_s=2)
    return RpcAnchorClient(config, Account.create())


def _broadcast_there(client: RpcAnchorClient, root: bytes) -> None:
    """Leave the intent a process that died after broadcasting on `client` would leave."""
    tx = {"to": client.address, "data": "0x", "value": 0, "gas": 60000, "chainId": 1, "nonce": 0,
          "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
    raw = client.account.sign_transaction(tx).raw_transaction
    version = SignedVersion(tx_hash="0x" + bytes(client.w3.keccak(raw)).hex(), raw=raw.hex(),
                            max_fee_wei=10**10, tip_wei=10**9, sent_at=time.time())
    IntentFile(client._intent(root).path).save(TxIntent(1, client.account.address, 0, tx=tx, versions=[version]))


def test_an_unreachable_chain_is_unknown_not_unanchored(home):
    down, live = _down(), open_embedded_anchor()
    policy = FallbackAnchorClient([down, live])
    root = merkle_root([b"\x05" * 32])
    with pytest.raises(AnchorStateUnknown, match="cannot tell whether root"):
        policy.is_anchored(root)  # the primary may hold it: no answer is not "no"
    assert not policy.already_anchored(root)  # a batch root nothing was ever sent for
    live.anchor_root(root, 1, "x")
    assert policy.is_anchored(root) and policy.already_anchored(root)
    with pytest.raises(AnchorStateUnknown):
        policy.verify_receipt(b"\x06" * 32, [], merkle_root([b"\x06" * 32]))


def test_a_fallback_never_anchors_what_was_broadcast_on_an_unreachable_primary(home):
    ids = resolve_disputes(2, prefix="fb")
    store, down, live = LocalContentStore(), _down(), open_embedded_anchor()
    root = merkle_root([bytes.fromhex(e["leaf"]) for e in pending()])
    _broadcast_there(down, root)  # then the primary became unreachable
    policy = FallbackAnchorClient([down, live])
    with pytest.raises(AnchorStateUnknown, match="broadcast"):
        anchor_pending(policy, store)
    with pytest.raises(AnchorStateUnknown, match="may still be mined"):
        policy.anchor_root(root, 2, "x")
    assert not live.is_anchored(root)  # the fallback sent nothing
    assert all(load_record(d)["status"] == STATUS_ANCHOR_PENDING for d in ids)
    outcome = anchor_chain(ids[0], store, lambda: policy, delays=(), sleep=lambda s: None)
    assert outcome.status == "anchor_pending" and "AnchorStateUnknown" in outcome.error


# --- misconfiguration raises; secrets never leave ---------------------------------------

class _Refusing:
    """A loopback HTTP server that answers every request 401 (a wrong API key)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_refused_key_fails_loudly_and_names_the_node_without_its_key(home):
    (chain_id,) = resolve_disputes(1, prefix="refused")
    refusing = _Refusing()
    try:
        url = f"http://127.0.0.1:{refusing.port}/v3/{MARKER}"
        with pytest.raises(RPCRefused, match=rf"127\.0\.0\.1:{refusing.port}/v3/\*\*\*: HTTP 401") as err:
            anchor_chain(chain_id, LocalContentStore(), lambda: _down(url), delays=(), sleep=lambda s: None)
        assert MARKER not in str(err.value)
    finally:
        refusing.stop()
    assert [e["chain_id"] for e in pending()] == [chain_id]  # still queued for when it is fixed


def test_a_marker_in_the_rpc_url_reaches_no_receipt_and_no_log(home, caplog):
    (chain_id,) = resolve_disputes(1, prefix="secret")
    url = f"http://operator:{MARKER}@127.0.0.1:{free_port()}/v3/{MARKER}?apikey={MARKER}"
    store = LocalContentStore()
    with caplog.at_level(logging.DEBUG):
        outcome = anchor_chain(chain_id, store, lambda: _down(url), delays=(0.0,), sleep=lambda s: None)
        append_receipt(chain_id, "anchor", store, ReceiptSigner.from_key_file(), **outcome.receipt_fields())
    assert outcome.status == "anchor_pending" and "127.0.0.1" in outcome.error
    receipt = json.dumps(load_receipts(chain_id, store)[-1])
    assert "TransientRPCError" in receipt and MARKER not in receipt
    assert MARKER not in caplog.text and "127.0.0.1" in caplog.text
    assert MARKER not in repr(_down(url).config)

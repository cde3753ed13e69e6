"""Chaos: disputes resolving through an RPC outage, then anchored once each after it ends.

A real Hardhat node runs on loopback behind `OutageProxy`. Disputes resolve as the
dispute flow resolves them (signed receipt chain, `anchor_chain` with retries, the
`anchor` receipt of its outcome); during the outage every RPC request fails as a
dead node or load balancer fails (HTTP 503, a dropped connection, and a connection
dropped after the node acted: a broadcast that was mined while its sender heard
nothing). Each dispute must still resolve, as `anchor_pending`; once the outage ends,
`anchor_pending` (the `anchor_batches` flow's core) drains the queue. Then the chain's own
history is read back: every root's `RootAnchored` events (a doubled anchor would show),
the anchorer's nonce (a reverted or extra transaction would show), every batch's
manifest (each dispute's leaf under exactly one root), and each dispute verifies.

`python -m benchmarks.run chaos` runs the 10-minute outage (`make chaos`); `--quick` a
20-second one. The default tests run a compressed one (tests/faults/test_rpc_outage.py).
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PARAMETERS = {
    "full": {"outage_s": 600, "dispute_every_s": 10.0},
    "quick": {"outage_s": 20, "dispute_every_s": 2.0},
    "chain": "Hardhat 2 node on loopback, interval mining 200 ms, behind OutageProxy",
    "outage_modes": ["503", "drop", "drop-after-forwarding"],
    "anchor_retry_delays_s": [0.2, 0.5],
}


class OutageProxy:
    """Forwards JSON-RPC to `upstream`; while `down`, fails every request, the kinds taking
    turns: HTTP 503, a dropped connection, and a connection dropped after forwarding (the
    node acted, the client never hears)."""

    MODES = ("503", "drop", "drop-after-forwarding")

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.down = False
        self.failures: Counter[str] = Counter()
        lock, proxy = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    mode = None
                    if proxy.down:
                        mode = OutageProxy.MODES[sum(proxy.failures.values()) % len(OutageProxy.MODES)]
                        proxy.failures[mode] += 1
                if mode == "503":
                    self._reply(503, b"unavailable")
                    return
                if mode == "drop":
                    self._drop()
                    return
                request = urllib.request.Request(proxy.upstream, body, {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as response:  # nosec B310: loopback node
                    answer = response.read()
                if mode == "drop-after-forwarding":
                    self._drop()
                    return
                self._reply(200, answer)

            def _drop(self) -> None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

            def _reply(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def _own_folders() -> Any:
    """DALRN_HOME and DALRN_KEYS_DIR in a temporary folder, restored afterwards."""
    saved = {k: os.environ.get(k) for k in ("DALRN_HOME", "DALRN_KEYS_DIR")}
    with tempfile.TemporaryDirectory(prefix="dalrn-chaos-") as folder:
        os.environ["DALRN_HOME"] = str(Path(folder) / "home")
        os.environ["DALRN_KEYS_DIR"] = str(Path(folder) / "keys")
        try:
            yield Path(folder)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _resolve(chain_id: str, n: int, store: Any, signer: Any, connect: Any) -> str:
    """One dispute as the flow resolves it: stage receipts, anchoring, the anchor receipt."""
    from dalrn_core.podp.anchoring import anchor_chain
    from dalrn_core.podp.canonical import digest_of
    from dalrn_core.podp.ledger import append_receipt

    append_receipt(chain_id, "intake", store, signer, inputs={"dispute": digest_of({"n": n})})
    memo = store.put(json.dumps({"memo": f"settlement {n}"}).encode())
    append_receipt(chain_id, "explain", store, signer, outputs={"memo_cid": memo})
    outcome = anchor_chain(chain_id, store, connect, delays=PARAMETERS["anchor_retry_delays_s"])
    append_receipt(chain_id, "anchor", store, signer, **outcome.receipt_fields())
    return outcome.status


def outage_run(outage_s: float, dispute_every_s: float) -> dict[str, Any]:
    """Resolve disputes before, during (`outage_s`) and after an RPC outage; count what the
    chain and the records say afterwards."""
    from eth_account import Account

    from dalrn_core.chain.production import ChainConfig, RpcAnchorClient, deploy_rpc
    from dalrn_core.dispute.records import load_record
    from dalrn_core.evidence.store import LocalContentStore
    from dalrn_core.podp.batch import anchor_pending, pending
    from dalrn_core.podp.signing import ReceiptSigner
    from dalrn_core.podp.verify import verify_dispute
    from tests.chain.hardhat_node import HardhatNode

    key = os.urandom(32)
    account = Account.from_key(key)
    node = HardhatNode(key, chain_id=31337, interval_ms=200)
    proxy = OutageProxy(node.url)
    try:
        config = ChainConfig(name="chaos", chain_id=31337, rpc_url=node.url, confirmations=1,
                             stuck_after_s=3.0, poll_s=0.1, timeout_s=4.0, rpc_timeout_s=2.0,
                             rpc_attempts=2, finality_depth=64)
        address = deploy_rpc(config, account)
        through_proxy = config.with_(rpc_url=proxy.url, contract_address=address)

        def connect() -> RpcAnchorClient:
            return RpcAnchorClient(through_proxy, account)

        def deployed_w3() -> Any:  # straight to the node, past the proxy
            return RpcAnchorClient(config.with_(contract_address=address), account).w3

        store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
        statuses: dict[str, tuple[str, str]] = {}  # chain -> (phase, status at resolution)
        for n in range(2):
            statuses[f"before-{n}"] = ("before", _resolve(f"before-{n}", n, store, signer, connect))
        first_block = int(deployed_w3().eth.block_number)
        proxy.down = True
        started, n = time.monotonic(), 0
        while time.monotonic() - started < outage_s:
            chain_id = f"during-{n:04d}"
            statuses[chain_id] = ("during", _resolve(chain_id, 100 + n, store, signer, connect))
            n += 1
            time.sleep(max(0.0, dispute_every_s - (time.monotonic() - started) % dispute_every_s))
        outage_seconds = time.monotonic() - started
        last_block = int(deployed_w3().eth.block_number)
        proxy.down = False
        drained_at = time.monotonic()
        for _ in range(20):  # the scheduled anchor_batches runs, back to back
            if not pending():
                break
            try:
                anchor_pending(connect(), store)
            except OSError:
                time.sleep(1.0)
        drain_s = time.monotonic() - drained_at

        reader = RpcAnchorClient(config.with_(contract_address=address), account)
        events = reader.contract.events.RootAnchored().get_logs(from_block=0)
        per_root = Counter("0x" + bytes(e["args"]["root"]).hex() for e in events)
        per_leaf: Counter[str] = Counter()
        for event in events:
            manifest = json.loads(store.get(event["args"]["manifestUri"].removeprefix("ipfs://")))
            per_leaf.update(leaf["chain_id"] for leaf in manifest["leaves"])
        sent = reader.w3.eth.get_transaction_count(account.address)
        anchored = [c for c in statuses if (load_record(c).get("anchor") or {}).get("root") in per_root]
        verified = sum(1 for c in anchored if verify_dispute(c, client=reader, store=store))
        during = [c for c, (phase, _) in statuses.items() if phase == "during"]
        return {
            "outage_s": round(outage_seconds, 1),
            "disputes": len(statuses),
            "resolved_during_outage": len(during),
            "pending_during_outage": sum(1 for c in during if statuses[c][1] == "anchor_pending"),
            "rpc_failures": sum(proxy.failures.values()),
            # broadcasts the node mined while their sender heard nothing (dropped answers)
            "mined_unheard_during_outage": sum(1 for e in events if first_block < e["blockNumber"] <= last_block),
            "drain_s": round(drain_s, 1),
            "anchored": len(anchored),
            "verified": verified,
            "lost": len(statuses) - len(anchored),
            "leaves_under_two_roots": sum(1 for c in statuses if per_leaf[c] > 1),
            "doubled_anchors": sum(1 for count in per_root.values() if count > 1),
            # every transaction of the anchorer: 1 deployment + one per root; more is a
            # reverted or second transaction
            "extra_transactions": sent - 1 - len(events),
            "batches": len(per_root),
            "pending_left": len(pending()),
        }
    finally:
        proxy.stop()
        node.stop()


def run(quick: bool) -> list[dict[str, Any]]:
    settings = PARAMETERS["quick" if quick else "full"]
    with _own_folders():
        return [outage_run(float(settings["outage_s"]), float(settings["dispute_every_s"]))]

"""A real Hardhat 2 node on loopback, and a flaky JSON-RPC proxy in front of it (the chain
tests and the chaos benchmark)."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dalrn_cli.stack import free_port

__all__ = ["FlakyProxy", "HardhatNode", "free_port", "hardhat_missing", "rpc"]

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"
HARDHAT_BIN = CONTRACTS / "node_modules" / ".bin" / "hardhat"


def rpc(url: str, method: str, params: list | None = None):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer["result"]


def hardhat_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not HARDHAT_BIN.exists():
        return "hardhat is not installed: run `npm ci` in contracts/"
    return None


class HardhatNode:
    """`hardhat node` on a free loopback port, funding one fresh key, mining every interval."""

    def __init__(self, private_key: bytes, chain_id: int = 31337, interval_ms: int = 200) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "DALRN_HARDHAT_KEY": "0x" + private_key.hex(),
               "DALRN_HARDHAT_CHAIN_ID": str(chain_id), "DALRN_HARDHAT_INTERVAL_MS": str(interval_ms),
               "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"}
        self.process = subprocess.Popen(
            [str(HARDHAT_BIN), "node", "--hostname", "127.0.0.1", "--port", str(self.port)],
            cwd=CONTRACTS, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                rpc(self.url, "eth_chainId")
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("hardhat node exited at start") from None
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("hardhat node did not answer within 90 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)


class FailingProxy:
    """Forwards JSON-RPC to `upstream` on a loopback port, failing the requests `choose`
    picks, in the way it names: HTTP 503 or 429, a dropped connection, a transient -32000
    error, or a connection dropped after forwarding (the node acted, the client never hears)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.failures: Counter[str] = Counter()
        self.forwarded = 0
        lock, proxy = threading.Lock(), self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    mode = proxy.choose()
                    if mode:
                        proxy.failures[mode] += 1
                    else:
                        proxy.forwarded += 1
                if mode == "drop":
                    self._drop()
                    return
                if mode in ("503", "429"):
                    self._reply(int(mode), b"unavailable")
                    return
                if mode == "rpc-busy":
                    error = {"code": -32000, "message": "header not found"}
                    self._reply(200, json.dumps({"jsonrpc": "2.0", "id": json.loads(body).get("id"),
                                                 "error": error}).encode())
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

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def choose(self) -> str | None:
        """How to fail this request (None: forward it); called under the proxy's lock."""
        return None

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FlakyProxy(FailingProxy):
    """Fails a fraction of requests, the kinds taking turns (so every kind is exercised in a
    short run); at most `max_in_row` failures follow each other, so a client with enough
    retries always gets through."""

    MODES = ("503", "429", "drop", "rpc-busy", "drop-after-forwarding")

    def __init__(self, upstream: str, failure_rate: float = 0.35, max_in_row: int = 3, seed: int = 7) -> None:
        self.rng, self.failure_rate, self.max_in_row, self.in_row = random.Random(seed), failure_rate, max_in_row, 0
        super().__init__(upstream)

    def choose(self) -> str | None:
        fail = self.in_row < self.max_in_row and self.rng.random() < self.failure_rate
        self.in_row = self.in_row + 1 if fail else 0
        return self.MODES[self.failed % len(self.MODES)] if fail else None

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

The second scenario kills (SIGKILL) the process that runs dispute flows at random
moments of a stream of disputes and starts it again each time (`kill_run`, with
tests/faults/flow_worker.py as that process), then counts the same way from the embedded
chain, each dispute's receipts (one intake ... anchor sequence) and `dalrn receipts verify`.
The third (`benchmarks.kill_queue`) kills `dalrn worker` itself on the production-shaped
stack (gateway, Redis Stream, Prefect on PostgreSQL), where the next worker recovers the
dead one's dispute on its own.

`python -m benchmarks.run chaos` runs the 10-minute outage and 50 kills (`make chaos`);
`--quick` a 20-second outage and 5 kills. The default tests run compressed ones
(tests/faults/test_rpc_outage.py, tests/faults/test_kill_worker.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess  # nosec B404: the repository's own worker and CLI, no shell
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.hardhat_node import FailingProxy

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "supply-contract.json"
DRAIN_LIMIT_S = 180.0  # after the outage, how long the pending batch may take to go through
STAGE_END = "Finished in state"  # a task run's (or a flow run's) last log line
STEPS = ["intake", "route", "embed", "precedents", "negotiate", "explain", "anchor"]

PARAMETERS: dict[str, Any] = {
    "full": {"outage_s": 600, "dispute_every_s": 10.0, "kills": 50, "kill_disputes": 20},
    "quick": {"outage_s": 20, "dispute_every_s": 2.0, "kills": 5, "kill_disputes": 3},
    "kill_moment": "after 1-9 finished stages of a start, plus 0-0.4 s",
    "queue_kill_moment": "when the dispute in progress has written 1-6 receipts, plus 0-0.3 s",
    "chain": "Hardhat 2 node on loopback, interval mining 200 ms, behind OutageProxy",
    "outage_modes": ["503", "drop", "drop-after-forwarding"],
    "anchor_retry_delays_s": [0.2, 0.5],
}


class OutageProxy(FailingProxy):
    """While `down`, fails every request, the kinds taking turns: HTTP 503, a dropped
    connection, and a connection dropped after forwarding (the node acted, the client never
    hears)."""

    MODES = ("503", "drop", "drop-after-forwarding")

    def __init__(self, upstream: str) -> None:
        self.down = False
        super().__init__(upstream)

    def choose(self) -> str | None:
        return self.MODES[self.failed % len(self.MODES)] if self.down else None


@contextmanager
def _own_folders() -> Any:
    """DALRN_HOME and DALRN_KEYS_DIR in a temporary folder, restored afterwards."""
    from dalrn_cli.environment import environment

    with tempfile.TemporaryDirectory(prefix="dalrn-chaos-") as folder, \
            environment({"DALRN_HOME": str(Path(folder) / "home"), "DALRN_KEYS_DIR": str(Path(folder) / "keys")}):
        yield Path(folder)


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

    from benchmarks.hardhat_node import HardhatNode
    from dalrn_core.chain.production import ChainConfig, RpcAnchorClient, deploy_rpc
    from dalrn_core.dispute.records import load_record
    from dalrn_core.evidence.store import LocalContentStore
    from dalrn_core.podp.batch import anchor_pending, pending
    from dalrn_core.podp.signing import ReceiptSigner
    from dalrn_core.podp.verify import verify_dispute

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
        # The scheduled anchor_batches runs, back to back; the chain's circuit breaker,
        # opened by the outage, lets a call through again after its reset time (30 s).
        while pending() and time.monotonic() - drained_at < DRAIN_LIMIT_S:
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
            "scenario": "rpc_outage",
            "kills": 0,
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


def worker_env() -> dict[str, str]:
    """The environment of a child process: this one's folders and Prefect API."""
    from prefect.settings import PREFECT_API_URL

    return {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), "HF_HUB_OFFLINE": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(REPO)}


def _start_worker(folder: Path) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen([sys.executable, "-m", "tests.faults.flow_worker", str(folder)],  # nosec B603
                               cwd=REPO, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip())

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def _kill(process: subprocess.Popen[str]) -> None:
    os.killpg(process.pid, signal.SIGKILL)  # its own session: the worker and anything it started
    process.wait(timeout=30)


def _stages_done(lines: list[str], target: int, process: subprocess.Popen[str], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sum(STAGE_END in line for line in lines) >= target:
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def kill_run(folder: Path, disputes: int, kills: int, seed: int) -> dict[str, Any]:
    """Accept `disputes`, run the worker, SIGKILL it `kills` times at random moments of its
    flows (two more disputes arrive whenever it finished all before a kill), let the last
    start finish; then count what the chain and the records say.

    Needs a Prefect API (PREFECT_API_URL, or a test harness) and a precedent index in the
    data folder."""
    sample = json.loads(SAMPLE.read_text())
    ids: list[str] = []
    (folder / "accepted").mkdir(parents=True)

    def accept(count: int) -> None:
        for _ in range(count):
            chain_id = f"kill-{len(ids):03d}"
            (folder / "accepted" / f"{chain_id}.json").write_text(json.dumps({**sample, "id": chain_id}))
            ids.append(chain_id)

    accept(disputes)
    rng, killed_after, started = random.Random(seed), [], time.monotonic()
    while len(killed_after) < kills:
        process, lines = _start_worker(folder)
        target = rng.randint(1, 9)
        if not _stages_done(lines, target, process, 180):
            if process.poll() == 0 and len(ids) < disputes + 2 * kills:
                accept(2)  # the stream ran dry before this kill: more disputes arrive
                continue
            if process.poll() is None:
                _kill(process)  # stuck: not left running beside the next start
            break  # stuck or failed: the counts below say so
        time.sleep(rng.uniform(0.0, 0.4))
        killed_after.append(next((line for line in reversed(lines) if STAGE_END in line), "")[-90:])
        _kill(process)
    process, lines = _start_worker(folder)
    try:
        process.wait(timeout=900)
    finally:
        if process.poll() is None:
            _kill(process)
    seconds = time.monotonic() - started

    done = {p.stem for p in (folder / "done").glob("*.json")} if (folder / "done").exists() else set()
    return {
        "scenario": "kill_worker",
        "kills": len(killed_after),
        "outage_s": 0,
        "disputes": len(ids),
        "worker_exit": process.returncode,
        "seconds": round(seconds, 1),
        **outcome_counts(ids, done),
        "killed_after": killed_after,
        "worker_tail": lines[-10:] if process.returncode else [],
    }


def outcome_counts(chains: list[str], resolved: set[str]) -> dict[str, Any]:
    """What the embedded chain, the records and `dalrn receipts verify` say of `chains`, of
    which `resolved` finished: each must have one intake ... anchor sequence, a leaf under
    exactly one anchored root, and verify; no root twice, no extra transaction."""
    from dalrn_core.chain.local import open_embedded_anchor
    from dalrn_core.dispute.records import load_record
    from dalrn_core.evidence.store import LocalContentStore
    from dalrn_core.podp.batch import pending

    store, client = LocalContentStore(), open_embedded_anchor()
    events = client.contract.events.RootAnchored().get_logs(from_block=0)
    per_root = Counter("0x" + bytes(e["args"]["root"]).hex() for e in events)
    per_chain: Counter[str] = Counter()
    for event in events:
        manifest = json.loads(store.get(event["args"]["manifestUri"].removeprefix("ipfs://")))
        per_chain.update(leaf["chain_id"] for leaf in manifest["leaves"])
    one_sequence = [c for c in chains if c in resolved and [json.loads(store.get(cid))["step"] for cid in
                                                            load_record(c)["receipts"]] == STEPS]
    checks = {c: subprocess.Popen([sys.executable, "-m", "dalrn_cli.main", "receipts", "verify", c],  # nosec B603
                                  cwd=REPO, env=worker_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) for c in sorted(resolved)}
    verify_output = {c: check.communicate(timeout=300)[0] for c, check in checks.items()}
    verified = [c for c, check in checks.items() if check.returncode == 0]
    sent = client.w3.eth.get_transaction_count(client.account.address)
    return {
        "resolved": len(resolved),
        "one_intake_to_anchor_sequence": len(one_sequence),
        "anchored": sum(1 for c in chains if per_chain[c] >= 1),
        "verified": len(verified),
        "lost": len(chains) - len(set(verified) & set(one_sequence)),
        "leaves_under_two_roots": sum(1 for c in chains if per_chain[c] > 1),
        "doubled_anchors": sum(1 for count in per_root.values() if count > 1),
        "extra_transactions": sent - 1 - len(events),  # 1 deployment + one per root
        # The disputes' leaves only: the gateway's audit head is queued by its own policy
        # (every 100 entries or 60 s) and waits for the next batch by design, so the reads
        # made after the last dispute's batch may leave one queued; it is listed, not counted.
        "pending_left": sum(1 for e in pending() if e["chain_id"] in chains),
        "pending_entries": [{**e, "record_status": _status_of(e["chain_id"])} for e in pending()],
        "failures": {c: out[-400:] for c, out in verify_output.items() if c not in verified},
    }


def _status_of(chain_id: str) -> str:
    """A chain record's status, for the report of a leaf left pending."""
    from dalrn_core.dispute.records import record_path

    path = record_path(chain_id)
    return str(json.loads(path.read_text()).get("status")) if path.exists() else "no record"


def run(quick: bool) -> list[dict[str, Any]]:
    from prefect.testing.utilities import prefect_test_harness

    from benchmarks.kill_queue import own_kill_run
    from dalrn_core.search.build import build_precedent_index

    settings = PARAMETERS["quick" if quick else "full"]
    with _own_folders():
        outage = outage_run(float(settings["outage_s"]), float(settings["dispute_every_s"]))
    with _own_folders() as folder, prefect_test_harness(server_startup_timeout=180):
        build_precedent_index(limit=30)
        kills = kill_run(folder / "stream", int(settings["kill_disputes"]), int(settings["kills"]), seed=14)
    queue_kills = own_kill_run(int(settings["kill_disputes"]), int(settings["kills"]), seed=14)
    keys = ("scenario", "kills", "outage_s", "disputes", "anchored", "verified", "lost",
            "leaves_under_two_roots", "doubled_anchors", "extra_transactions", "pending_left")
    return [{**{k: row.get(k) for k in keys}, "details": {k: v for k, v in row.items() if k not in keys}}
            for row in (outage, kills, queue_kills)]

"""Batch anchoring: many receipt chains' heads under one Merkle root, one transaction.

A receipt chain (a resolved dispute's, a rewiring run's) queues its leaf (the digest of its
head receipt) as pending. `anchor_pending` takes every pending leaf, builds the OpenZeppelin-rule tree, stores the
batch manifest by CID, anchors the root, then writes each chain's inclusion proof. If
anchoring fails the leaves stay pending and the batch is remembered as in flight: the next
call retries that same batch (same root) before taking newer leaves; if the root turns out
to be anchored already (a late mining, a crash after the transaction), the proofs are
written without a second transaction. Nothing is lost and nothing is anchored twice.
"""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.config import sub_dir
from dalrn_core.dispute.records import STATUS_ANCHORED, record_path
from dalrn_core.durable import remove_durably, write_json_durably
from dalrn_core.evidence.store import ContentStore
from dalrn_core.observability.breakers import CHAIN, guarded
from dalrn_core.observability.disputes import (
    ANCHOR_WAIT,
    observe_batch_anchor,
    record_batch,
    record_batch_failure,
)
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.ledger import chain_lock, update_chain_record
from dalrn_core.podp.merkle import merkle_proof, merkle_root

MANIFEST_VERSION = "dalrn.podp.batch/2"
# Version 1 manifests, queue files and in-flight records named an entry's chain id
# "dispute_id"; entries read back from disk are renamed (`entry_from_disk`), never rewritten.
LEGACY_CHAIN_KEY = "dispute_id"


def _pending_dir() -> Path:
    return sub_dir("anchor", "pending")


@contextmanager
def _batch_lock() -> Iterator[None]:
    with open(sub_dir("anchor") / "batch.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def entry_from_disk(written: dict[str, Any]) -> dict[str, Any]:
    """A batch entry `{chain_id, leaf, receipt_cid}` as read from disk, whatever its version."""
    if "chain_id" in written or LEGACY_CHAIN_KEY not in written:
        return written
    entry = {k: v for k, v in written.items() if k != LEGACY_CHAIN_KEY}
    return {"chain_id": written[LEGACY_CHAIN_KEY], **entry}


def queue_leaf(chain_id: str, leaf: bytes, receipt_cid: str) -> None:
    """Mark a receipt chain's head as waiting for the next batch (durably, under the
    chain's lock, so a batch finishing an older leaf of the chain never removes it)."""
    with chain_lock(chain_id):
        if _leaf_anchored(chain_id, leaf.hex()):
            # A run killed after its batch was anchored and before its `anchor` receipt, then
            # started again: queueing the head once more would put it under a second root.
            return
        write_json_durably(_pending_dir() / f"{chain_id}.json",
                           {"chain_id": chain_id, "leaf": leaf.hex(), "receipt_cid": receipt_cid})


def _leaf_anchored(chain_id: str, leaf_hex: str) -> bool:
    """Whether the chain's record already holds this very leaf under an anchored root."""
    return _recorded_anchor(chain_id).get("leaf") == "0x" + leaf_hex


def _unanchored(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pending entries whose leaf no batch has anchored yet; a stale entry of one that a
    batch did anchor (queued again by a restarted run) is taken off the queue instead."""
    keep = []
    for entry in entries:
        with chain_lock(entry["chain_id"]):
            if not _leaf_anchored(entry["chain_id"], entry["leaf"]):
                keep.append(entry)
                continue
            path = _pending_dir() / f"{entry['chain_id']}.json"
            if path.exists() and entry_from_disk(json.loads(path.read_text()))["leaf"] == entry["leaf"]:
                remove_durably(path)
    return keep


def pending() -> list[dict[str, Any]]:
    return [entry_from_disk(json.loads(p.read_text())) for p in sorted(_pending_dir().glob("*.json"))]


def pending_ages() -> list[float]:
    """Seconds each pending leaf has waited (since its entry was written), for the backlog gauges."""
    now = time.time()
    ages = []
    for path in _pending_dir().glob("*.json"):
        try:
            ages.append(max(now - path.stat().st_mtime, 0.0))
        except FileNotFoundError:  # anchored between the listing and the stat
            continue
    return ages


def _inflight_path() -> Path:
    return sub_dir("anchor") / "inflight.json"


def _finish(entries: list[dict[str, Any]], anchor: dict[str, Any], manifest_cid: str) -> None:
    """Write each entry's proof into its record and take it off the pending queue, each
    under its chain's lock (a receipt appended meanwhile is kept, not overwritten)."""
    leaves = [bytes.fromhex(e["leaf"]) for e in entries]
    now = datetime.now(UTC)
    anchored_at = now.isoformat()  # when the root was recorded as on chain (this clock)
    for index, entry in enumerate(entries):
        proof = ["0x" + p.hex() for p in merkle_proof(leaves, index)]
        with chain_lock(entry["chain_id"]):
            # A dispute whose run left this leaf pending: its time to anchored is observed here.
            path = record_path(entry["chain_id"])
            waited = observe_batch_anchor(json.loads(path.read_text()), now) if path.exists() else None
            update_chain_record(
                entry["chain_id"],
                status=STATUS_ANCHORED,
                anchor={**anchor, "manifest_cid": manifest_cid, "leaf": "0x" + entry["leaf"],
                        "leaf_receipt_cid": entry["receipt_cid"], "proof": proof, "anchored_at": anchored_at},
                **({ANCHOR_WAIT: waited} if waited is not None else {}),
            )
            path = _pending_dir() / f"{entry['chain_id']}.json"
            # A chain that grew meanwhile (a dispute resolved again) queued a newer leaf: that
            # one stays pending.
            if path.exists() and entry_from_disk(json.loads(path.read_text()))["leaf"] == entry["leaf"]:
                remove_durably(path)


def anchor_pending(client: AnchorClient, store: ContentStore) -> dict[str, Any] | None:
    """Anchor every pending leaf in one transaction; returns the batch, or None if empty.

    A batch whose anchoring failed (not mined in time, node gone) is remembered as in
    flight: the next call anchors exactly that batch again (the same root), or, if its
    transaction was mined after all, only writes its proofs. So a leaf is never put under
    two roots, and a root is never anchored twice.
    """
    with _batch_lock():
        inflight = json.loads(_inflight_path().read_text()) if _inflight_path().exists() else None
        entries = [entry_from_disk(e) for e in inflight["leaves"]] if inflight else _unanchored(pending())
        if not entries:
            return None
        return _anchor_entries(client, store, entries, _inflight_path(), {})


def anchor_model_batch(client: AnchorClient, store: ContentStore, entry: dict[str, Any], model_hash: str,
                       fl_round: int) -> dict[str, Any]:
    """Anchor one receipt-chain head as its own batch, the contract carrying the model.

    A federated round's root holds the round's model hash and number in the contract's
    own fields, so it is not mixed with the disputes' pending leaves. It goes the same way
    as theirs: under the batch lock, with a stored manifest, an in-flight record (per
    chain) and the chain's own check, so a failed attempt is retried with the same root, a
    root already on chain is never sent again, and asking again for an anchored head, model
    and round sends nothing.
    """
    inflight_path = sub_dir("anchor", "inflight-model") / f"{entry['chain_id']}.json"
    wanted = {"model_hash": model_hash, "fl_round": fl_round}
    root = "0x" + merkle_root([bytes.fromhex(entry["leaf"])]).hex()
    with _batch_lock():
        if inflight_path.exists():  # an earlier attempt for this chain: finish that one first
            recorded = json.loads(inflight_path.read_text())
            model = {"model_hash": recorded["model_hash"], "fl_round": recorded["fl_round"]}
            batch = _anchor_entries(client, store, [entry_from_disk(e) for e in recorded["leaves"]],
                                    inflight_path, model)
            if batch["root"] == root and model == wanted:
                return batch
        anchor = _recorded_anchor(entry["chain_id"])
        if anchor.get("root") == root and anchor.get("tx_hash") and all(anchor.get(k) == v for k, v in wanted.items()):
            return {**anchor, "chains": [entry["chain_id"]]}  # asked again: nothing to send
        return _anchor_entries(client, store, [entry], inflight_path, wanted)


def _recorded_anchor(chain_id: str) -> dict[str, Any]:
    """The chain's recorded anchor once its status is anchored, else {}."""
    path = record_path(chain_id)
    record = json.loads(path.read_text()) if path.exists() else {}
    if record.get("status") != STATUS_ANCHORED:
        return {}
    anchor: dict[str, Any] = record.get("anchor") or {}
    return anchor


def _anchor_entries(client: AnchorClient, store: ContentStore, entries: list[dict[str, Any]],
                    inflight_path: Path, model: dict[str, Any]) -> dict[str, Any]:
    """Store the batch's manifest, remember it as in flight, anchor its root once, write
    every entry's proof. The caller holds the batch lock."""
    client.sync()  # under the lock: what other processes anchored is seen before deciding
    leaves = [bytes.fromhex(e["leaf"]) for e in entries]
    root = merkle_root(leaves)
    manifest = {
        "version": MANIFEST_VERSION,
        "root": "0x" + root.hex(),
        **model,
        "leaves": entries,
        "tree": "openzeppelin-simple-merkle-tree (sorted leaves, sorted pairs, keccak256)",
    }
    manifest_cid = store.put(canonical_bytes(manifest))
    write_json_durably(inflight_path, manifest)
    anchor: dict[str, Any]
    if guarded(CHAIN, client.already_anchored, root):
        # An earlier attempt's transaction was mined (then the process died, or it was
        # mined late): record where, so the reorg re-check covers it; send nothing.
        located = client.locate(root)
        anchor = asdict(located) if located is not None else {"root": "0x" + root.hex(), "tx_hash": None}
        anchor["note"] = "root was already anchored: found on chain, not sent again"
    else:
        on_chain = (bytes.fromhex(model["model_hash"]), int(model["fl_round"])) if model else ()
        try:
            anchor = asdict(guarded(CHAIN, client.anchor_root, root, len(leaves), f"ipfs://{manifest_cid}", *on_chain))
        except Exception:
            record_batch_failure()
            raise
        record_batch(anchor.get("gas_used"), 0 if model else len(entries))  # a model anchor holds no dispute
    anchor.update(model)
    _finish(entries, anchor, manifest_cid)
    remove_durably(inflight_path)
    client.settle(root)  # recorded: the transaction intent has done its work
    return {**anchor, "manifest_cid": manifest_cid, "chains": [e["chain_id"] for e in entries]}

"""Re-checking anchored batches after the fact, and re-anchoring any a reorg dropped.

A transaction can be confirmed and still vanish if the chain reorganises deeper than the
confirmations waited for. For every batch recorded as anchored on the client's chain:
1. group the anchored receipt-chain records by root (one batch, one transaction);
2. ask `ensure_anchored` whether that transaction is still in its canonical block;
3. if not, and the contract no longer holds the root, anchor the same root again (the
   same manifest, so every recorded proof stays valid) and rewrite the records' anchor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from dalrn_core.chain.anchor import ZERO32, AnchorClient, AnchorResult
from dalrn_core.chain.production import ensure_anchored
from dalrn_core.config import sub_dir
from dalrn_core.dispute.records import STATUS_ANCHORED, update_record
from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.batch import _batch_lock

RESULT_FIELDS = tuple(f.name for f in fields(AnchorResult))


def _anchored_batches(evm_chain_id: int) -> dict[str, list[dict[str, Any]]]:
    batches: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(sub_dir("disputes").glob("*/record.json")):
        record = json.loads(path.read_text())
        anchor = record.get("anchor") or {}
        if record.get("status") != STATUS_ANCHORED or not anchor.get("tx_hash") or not anchor.get("block_hash"):
            continue
        if anchor.get("chain_id") == evm_chain_id:  # the anchor's blockchain id
            batches.setdefault(anchor["root"], []).append(record)
    return batches


def recheck_anchors(client: AnchorClient, store: ContentStore) -> list[dict[str, Any]]:
    """Re-anchor every batch on `client`'s chain whose transaction a reorg dropped.

    Returns one entry per repaired batch: the root, the old and the new transaction.
    """
    repaired = []
    with _batch_lock():
        for root, records in _anchored_batches(client.w3.eth.chain_id).items():
            anchor = records[0]["anchor"]
            result = AnchorResult(**{k: anchor[k] for k in RESULT_FIELDS})
            model_hash = bytes.fromhex(anchor["model_hash"]) if anchor.get("model_hash") else ZERO32
            leaf_count = len(json.loads(store.get(anchor["manifest_cid"]))["leaves"])
            fresh = ensure_anchored(client, result, leaf_count, f"ipfs://{anchor['manifest_cid']}",
                                    model_hash, int(anchor.get("fl_round", 0)))
            if fresh == result:
                continue
            for record in records:
                update_record(record["dispute_id"], anchor={**record["anchor"], **asdict(fresh)})
            repaired.append({"root": root, "old_tx": result.tx_hash, "new_tx": fresh.tx_hash})
    return repaired

"""Re-checking anchored batches after the fact, and re-anchoring any a reorg dropped.

A transaction can be confirmed and still vanish if the chain reorganises deeper than the
confirmations waited for. For every batch recorded as anchored on the client's chain and
not yet final:
1. group the anchored receipt-chain records by root (one batch, one transaction);
2. ask `ensure_anchored` whether that transaction is still in its canonical block;
3. if not, and the contract no longer holds the root, anchor the same root again (the
   same manifest, so every recorded proof stays valid) and rewrite the records' anchor;
4. once the anchor's block is `client.finality_depth` blocks deep, mark it final: later
   re-checks skip it, so their cost does not grow with the history.
Record updates hold each chain's lock, under the batch lock.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from dalrn_core.chain.anchor import ZERO32, AnchorClient, AnchorResult
from dalrn_core.chain.production import ensure_anchored
from dalrn_core.config import sub_dir
from dalrn_core.dispute.records import STATUS_ANCHORED
from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.batch import _batch_lock
from dalrn_core.podp.ledger import chain_lock, update_chain_record

RESULT_FIELDS = tuple(f.name for f in fields(AnchorResult))


def _anchored_batches(evm_chain_id: int) -> dict[str, list[dict[str, Any]]]:
    """Records anchored on the chain `evm_chain_id` and not final yet, by root."""
    batches: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(sub_dir("disputes").glob("*/record.json")):
        record = json.loads(path.read_text())
        anchor = record.get("anchor") or {}
        if record.get("status") != STATUS_ANCHORED or not anchor.get("tx_hash") or not anchor.get("block_hash"):
            continue
        if anchor.get("chain_id") == evm_chain_id and not anchor.get("final"):  # the anchor's blockchain id
            record["_chain"] = path.parent.name
            batches.setdefault(anchor["root"], []).append(record)
    return batches


def _rewrite(records: list[dict[str, Any]], **anchor_fields: Any) -> None:
    for record in records:
        with chain_lock(record["_chain"]):
            current = json.loads((sub_dir("disputes") / record["_chain"] / "record.json").read_text())
            if (current.get("anchor") or {}).get("root") != record["anchor"]["root"]:
                continue  # the chain was anchored again since (a newer head): leave that anchor
            update_chain_record(record["_chain"], anchor={**current["anchor"], **anchor_fields})


def recheck_anchors(client: AnchorClient, store: ContentStore) -> list[dict[str, Any]]:
    """Re-anchor every batch on `client`'s chain whose transaction a reorg dropped, and mark
    the ones deeper than its finality depth final.

    Returns one entry per repaired batch: the root, the old and the new transaction.
    """
    repaired = []
    with _batch_lock():
        head = client.w3.eth.block_number
        for root, records in _anchored_batches(client.w3.eth.chain_id).items():
            anchor = records[0]["anchor"]
            result = AnchorResult(**{k: anchor[k] for k in RESULT_FIELDS})
            model_hash = bytes.fromhex(anchor["model_hash"]) if anchor.get("model_hash") else ZERO32
            leaf_count = len(json.loads(store.get(anchor["manifest_cid"]))["leaves"])
            fresh = ensure_anchored(client, result, leaf_count, f"ipfs://{anchor['manifest_cid']}",
                                    model_hash, int(anchor.get("fl_round", 0)))
            if fresh == result:
                if head - result.block_number + 1 >= client.finality_depth:
                    _rewrite(records, final=True)
                continue
            _rewrite(records, **asdict(fresh))
            client.settle(bytes.fromhex(root.removeprefix("0x")))
            repaired.append({"root": root, "old_tx": result.tx_hash, "new_tx": fresh.tx_hash})
    return repaired

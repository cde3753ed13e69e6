"""Anchoring a federated round: the run's receipt chain with the global model's hash and
round number, in the contract's own fields, so anyone can check which model a night
produced and that its receipts existed then.

The round goes through the batch anchoring path (`batch.anchor_model_batch`: batch lock,
stored manifest, in-flight record, the chain's own "already anchored" check), as a batch
of one leaf: the chain's head.
"""

from __future__ import annotations

import re
from typing import Any

from dalrn_core.chain.anchor import AnchorClient
from dalrn_core.dispute.records import load_record
from dalrn_core.errors import InputError
from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.batch import anchor_model_batch
from dalrn_core.podp.ledger import load_receipts, receipt_cids
from dalrn_core.podp.receipts import receipt_leaf


def anchor_model_round(client: AnchorClient, store: ContentStore, chain_id: str, model_hash: str,
                       fl_round: int) -> dict[str, Any]:
    """Anchor the head of `chain_id`'s receipts with `model_hash` and `fl_round` on chain.

    Returns the chain's recorded anchor (root, transaction, manifest CID, leaf, proof,
    model hash, round). Asking again for the same head, model and round returns the
    recorded anchor and sends nothing.
    """
    if not isinstance(model_hash, str) or not re.fullmatch(r"[0-9a-f]{64}", model_hash):
        raise InputError.one("model_hash", "must be a SHA-256 digest in lowercase hex (64 characters)")
    if isinstance(fl_round, bool) or not isinstance(fl_round, int) or fl_round < 1:
        raise InputError.one("fl_round", "must be a positive round number")
    receipts = load_receipts(chain_id, store)
    if not receipts:
        raise InputError.one("chain_id", f"receipt chain {chain_id!r} has no receipts to anchor")
    leaf = receipt_leaf(receipts[-1])
    entry = {"chain_id": chain_id, "leaf": leaf.hex(), "receipt_cid": receipt_cids(chain_id)[-1]}
    anchor_model_batch(client, store, entry, model_hash, fl_round)
    recorded: dict[str, Any] = load_record(chain_id)["anchor"]
    return recorded

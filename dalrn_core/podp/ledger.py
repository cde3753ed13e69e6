"""A receipt chain on disk: receipts in the content store, their CIDs in the chain's record.

A chain is a dispute's, a federated night's or a rewiring run's; `chain_id` names it (for
a dispute, its id). Appends hold a per-chain file lock, so concurrent steps never fork a
chain, and every update of a chain's record (its receipts, its anchor) holds the same lock
and is written durably. Resolving the same dispute again continues its chain (the new
intake receipt links to the old head): a dispute's whole history is one verifiable
sequence.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dalrn_core.config import sub_dir
from dalrn_core.dispute.records import record_path
from dalrn_core.durable import write_json_durably
from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.receipts import Receipt, ReceiptChain, receipt_cid
from dalrn_core.podp.signing import ReceiptSigner


@contextmanager
def chain_lock(chain_id: str) -> Iterator[None]:
    """The lock of one chain's record: every read-modify-write of that record holds it."""
    folder = sub_dir("disputes", chain_id)
    with open(folder / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def update_chain_record(chain_id: str, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into the chain's record and write it durably; the caller holds
    `chain_lock(chain_id)`, so no concurrent update is lost."""
    path = record_path(chain_id)
    record: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"dispute_id": chain_id}
    record.update(fields)
    write_json_durably(path, record)
    return record


def receipt_cids(chain_id: str) -> list[str]:
    path = record_path(chain_id)
    if not path.exists():
        return []
    cids: list[str] = json.loads(path.read_text()).get("receipts", [])
    return cids


def load_receipts(chain_id: str, store: ContentStore) -> list[Receipt]:
    """The chain's receipts in order, each re-hashed against its CID by the store."""
    return [json.loads(store.get(cid)) for cid in receipt_cids(chain_id)]


def append_receipt(
    chain_id: str,
    step: str,
    store: ContentStore,
    signer: ReceiptSigner,
    *,
    inputs: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> str:
    """Sign the next receipt of `chain_id`, store it, record it; returns its CID."""
    with chain_lock(chain_id):
        chain = ReceiptChain(chain_id, signer, load_receipts(chain_id, store))
        receipt = chain.add(step, inputs=inputs, params=params, outputs=outputs)
        cid = store.put(canonical_bytes(receipt))
        assert cid == receipt_cid(receipt)
        update_chain_record(chain_id, receipts=[*receipt_cids(chain_id), cid])
        return cid

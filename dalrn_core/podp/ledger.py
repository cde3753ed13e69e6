"""A dispute's receipt chain on disk: receipts in the content store, their CIDs in the record.

Appends hold a per-dispute file lock, so concurrent steps never fork a chain. Resolving the
same dispute again continues its chain (the new intake receipt links to the old head): a
dispute's whole history is one verifiable sequence.
"""

from __future__ import annotations

import fcntl
import json
from contextlib import contextmanager
from typing import Any

from dalrn_core.config import sub_dir
from dalrn_core.dispute.records import record_path, update_record
from dalrn_core.evidence.store import ContentStore
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.receipts import ReceiptChain, receipt_cid
from dalrn_core.podp.signing import ReceiptSigner


@contextmanager
def _dispute_lock(dispute_id: str):
    folder = sub_dir("disputes", dispute_id)
    with open(folder / ".lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def receipt_cids(dispute_id: str) -> list[str]:
    path = record_path(dispute_id)
    return json.loads(path.read_text()).get("receipts", []) if path.exists() else []


def load_receipts(dispute_id: str, store: ContentStore) -> list[dict]:
    """The dispute's receipts in order, each re-hashed against its CID by the store."""
    return [json.loads(store.get(cid)) for cid in receipt_cids(dispute_id)]


def append_receipt(
    dispute_id: str,
    step: str,
    store: ContentStore,
    signer: ReceiptSigner,
    *,
    inputs: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> str:
    """Sign the next receipt of `dispute_id`, store it, record it; returns its CID."""
    with _dispute_lock(dispute_id):
        chain = ReceiptChain(dispute_id, signer, load_receipts(dispute_id, store))
        receipt = chain.add(step, inputs=inputs, params=params, outputs=outputs)
        cid = store.put(canonical_bytes(receipt))
        assert cid == receipt_cid(receipt)
        update_record(dispute_id, receipts=[*receipt_cids(dispute_id), cid])
        return cid

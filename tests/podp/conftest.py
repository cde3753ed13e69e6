"""Disputes with real signed receipt chains in a fresh data folder, for batch and verify tests."""

from __future__ import annotations

import pytest

from dalrn_core.dispute.records import STATUS_ANCHOR_PENDING, update_record
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import queue_leaf
from dalrn_core.podp.canonical import digest_of
from dalrn_core.podp.ledger import append_receipt, load_receipts, receipt_cids
from dalrn_core.podp.receipts import receipt_leaf
from dalrn_core.podp.signing import ReceiptSigner


@pytest.fixture()
def home(data_home, tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    return tmp_path


def resolve_disputes(n: int, prefix: str = "d") -> list[str]:
    """Give `n` disputes an intake and an explain receipt (with a stored memo) and queue them."""
    store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
    ids = []
    for i in range(n):
        dispute_id = f"{prefix}-{i:04d}"
        update_record(dispute_id, status=STATUS_ANCHOR_PENDING)
        append_receipt(dispute_id, "intake", store, signer, inputs={"dispute": digest_of({"i": i})})
        memo_cid = store.put(f'{{"memo":"settlement {i}","why":"equilibrium"}}'.encode())
        append_receipt(dispute_id, "explain", store, signer, outputs={"memo_cid": memo_cid})
        head = load_receipts(dispute_id, store)[-1]
        queue_leaf(dispute_id, receipt_leaf(head), receipt_cids(dispute_id)[-1])
        ids.append(dispute_id)
    return ids

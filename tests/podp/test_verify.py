"""`verify_dispute` (behind `dalrn receipts verify`) names the object and rule of each tamper."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import load_record, record_path
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import anchor_pending
from dalrn_core.podp.verify import verify_dispute

from .conftest import resolve_disputes


@pytest.fixture()
def anchored(home):
    ids = resolve_disputes(3)
    anchor_pending(open_embedded_anchor(), LocalContentStore())
    return ids[1]


def _edit_stored(cid: str, old: bytes, new: bytes) -> None:
    path = next(LocalContentStore().root.rglob(cid))
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))


def _edit_record(dispute_id: str, edit) -> None:
    path = record_path(dispute_id)
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))


def test_untouched_dispute_verifies(anchored):
    held = verify_dispute(anchored)
    assert len(held) == 4 and "2 receipts" in held[0]


def test_edited_receipt(anchored):
    cid = load_record(anchored)["receipts"][0]
    _edit_stored(cid, b'"step":"intake"', b'"step":"intakE"')
    with pytest.raises(IntegrityError, match=rf"receipt chain {anchored}: receipt #0 \({cid}\): content does not match"):
        verify_dispute(anchored)


def test_deleted_receipt_from_record(anchored):
    _edit_record(anchored, lambda r: r["receipts"].pop(0))
    with pytest.raises(IntegrityError, match=rf"receipt chain {anchored}: receipt {anchored}/001-explain: sequence 1 at position 0"):
        verify_dispute(anchored)


def test_edited_memo(anchored):
    store = LocalContentStore()
    explain = json.loads(store.get(load_record(anchored)["receipts"][1]))
    memo_cid = explain["outputs"]["memo_cid"]
    _edit_stored(memo_cid, b"equilibrium", b"bargaining!")
    with pytest.raises(IntegrityError, match=rf"memo_cid of receipt {anchored}/001-explain \({memo_cid}\)"):
        verify_dispute(anchored)


def test_edited_manifest(anchored):
    manifest_cid = load_record(anchored)["anchor"]["manifest_cid"]
    _edit_stored(manifest_cid, b"d-0000", b"d-9999")
    with pytest.raises(IntegrityError, match=rf"batch manifest \({manifest_cid}\): content does not match"):
        verify_dispute(anchored)


def test_edited_leaf(anchored):
    _edit_record(anchored, lambda r: r["anchor"].update(leaf="0x" + "cd" * 32))
    with pytest.raises(IntegrityError, match=f"receipt chain {anchored}: Merkle leaf does not match receipt {anchored}/001-explain"):
        verify_dispute(anchored)


def test_edited_root(anchored):
    _edit_record(anchored, lambda r: r["anchor"].update(root="0x" + "ab" * 32))
    with pytest.raises(IntegrityError, match="does not rebuild the anchored root 0xabab"):
        verify_dispute(anchored)


def _break_proof(record: dict) -> None:
    record["anchor"]["proof"][0] = "0x" + "00" * 32


def test_edited_proof(anchored):
    _edit_record(anchored, _break_proof)
    with pytest.raises(IntegrityError, match="Merkle proof does not lead to root"):
        verify_dispute(anchored)


def test_root_missing_on_chain(anchored, home):
    root = load_record(anchored)["anchor"]["root"]
    journal = home / "home" / "chain" / "embedded-journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n")  # drop the anchoring transaction
    with pytest.raises(IntegrityError, match=f"root {root} is not anchored on chain"):
        verify_dispute(anchored)


def test_pending_dispute(home):
    (dispute_id,) = resolve_disputes(1)
    with pytest.raises(IntegrityError, match="anchor pending"):
        verify_dispute(dispute_id)


def test_cli_exit_codes(anchored):
    run = [sys.executable, "-m", "dalrn_cli.main", "receipts", "verify", anchored]
    ok = subprocess.run(run, check=False, capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert ok.returncode == 0, ok.stderr
    _edit_record(anchored, _break_proof)
    bad = subprocess.run(run, check=False, capture_output=True, text=True, env=os.environ.copy(), timeout=120)
    assert bad.returncode != 0 and "Merkle proof does not lead to root" in bad.stdout + bad.stderr


def test_anchor_on_another_chain_is_named(home, tmp_path):
    from eth_account import Account

    from dalrn_core.chain.anchor import AnchorClient, deploy_anchor_contract
    from dalrn_core.chain.embedded import EmbeddedChain

    (dispute_id,) = resolve_disputes(1)
    account = Account.create()
    chain = EmbeddedChain(tmp_path / "other.jsonl", [account.address], chain_id=5001)
    other = AnchorClient(chain.w3, account, chain.send_raw_transaction,
                         deploy_anchor_contract(chain.w3, account, chain.send_raw_transaction))
    anchor_pending(other, LocalContentStore())
    verify_dispute(dispute_id, client=other)
    with pytest.raises(IntegrityError, match=f"receipt chain {dispute_id}: anchored on chain 5001, but checked against chain"):
        verify_dispute(dispute_id)

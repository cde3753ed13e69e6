"""The public proof holds hashes only, and verifies from a process that holds no key."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest

from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import load_record
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import anchor_pending
from dalrn_core.podp.ledger import load_receipts
from dalrn_core.podp.signing import ReceiptSigner
from tests.gateway.gateway_app import make_app
from tests.gateway.live_app import live
from tests.podp.conftest import resolve_disputes

pytestmark = pytest.mark.timeout(300)


@pytest.fixture()
def anchored(home):
    ids = resolve_disputes(3, prefix="proof")
    anchor_pending(open_embedded_anchor(), LocalContentStore())
    dispute_id = ids[1]
    record = load_record(dispute_id)
    receipts = load_receipts(dispute_id, LocalContentStore())
    with live(make_app(home)) as url:
        yield url, record, receipts


def _verify(url: str, proof_id: str, *extra: str, home: str, keys: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DALRN_HOME": home, "DALRN_KEYS_DIR": keys}
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", "receipts", "verify", proof_id, "--api", url,
                           *extra], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_proof_holds_hashes_and_no_content(anchored):
    url, record, _ = anchored
    proof_id = record["anchor"]["leaf_receipt_cid"]
    proof = httpx.get(f"{url}/v1/proofs/{proof_id}").json()
    assert proof["receipts"] == record["receipts"] and proof["root"] == record["anchor"]["root"]
    assert proof["chain"]["tx_hash"] == record["anchor"]["tx_hash"]
    text = json.dumps(proof)
    assert record["dispute_id"] not in text  # neither the dispute id nor any receipt body
    assert "memo_cid" not in text and "signature" not in text
    keys = httpx.get(f"{url}/.well-known/dalrn-receipt-keys.json").json()
    assert [k["public_key"] for k in keys["keys"]] == [ReceiptSigner.from_key_file().public_key]
    missing = httpx.get(f"{url}/v1/proofs/not-a-cid")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "proof.not_found"
    unknown = LocalContentStore().put(b"never anchored")
    assert httpx.get(f"{url}/v1/proofs/{unknown}").status_code == 404


def test_verify_from_a_machine_with_no_keys(anchored, tmp_path):
    url, record, receipts = anchored
    proof_id = record["anchor"]["leaf_receipt_cid"]
    empty_home, empty_keys = tmp_path / "verifier-home", tmp_path / "verifier-keys"
    empty_home.mkdir()
    empty_keys.mkdir()
    receipts_file = tmp_path / "receipts.json"
    receipts_file.write_text(json.dumps(receipts))

    # Away from the operator's host there is no embedded chain to read: a clear failure.
    away = _verify(url, proof_id, "--receipts", str(receipts_file), home=str(empty_home), keys=str(empty_keys))
    assert away.returncode == 3 and "--rpc" in away.stderr, away.stderr
    skipped = _verify(url, proof_id, "--receipts", str(receipts_file), "--skip-chain",
                      home=str(empty_home), keys=str(empty_keys))
    assert skipped.returncode == 0, skipped.stderr
    assert "signatures by the published keys valid" in skipped.stdout and "NOT checked" in skipped.stdout

    # On the operator's host (its data folder, still no key): the root is read on the embedded chain.
    local = _verify(url, proof_id, "--receipts", str(receipts_file), home=os.environ["DALRN_HOME"],
                    keys=str(empty_keys))
    assert local.returncode == 0, local.stderr
    assert "contract accepts the proof" in local.stdout
    assert list(empty_keys.iterdir()) == [], "verification must never create a key"


def test_verify_catches_a_tampered_receipt_and_a_foreign_signer(anchored, tmp_path):
    url, record, receipts = anchored
    proof_id = record["anchor"]["leaf_receipt_cid"]
    keys = tmp_path / "verifier-keys"
    keys.mkdir()
    edited = [dict(r) for r in receipts]
    edited[0]["params"] = {"rule": "utilitarian"}
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(edited))
    result = _verify(url, proof_id, "--receipts", str(bad), "--skip-chain", home=str(tmp_path), keys=str(keys))
    assert result.returncode == 3 and "signature does not match" in result.stderr, result.stderr

    from dalrn_core.podp.receipts import ReceiptChain

    forger = ReceiptSigner(b"\x07" * 32)  # a key the operator never published
    forged = ReceiptChain(receipts[0]["chain_id"], forger)
    for receipt in receipts:
        forged.add(receipt["step"], inputs=receipt["inputs"], params=receipt["params"], outputs=receipt["outputs"])
    bad.write_text(json.dumps(forged.receipts))
    result = _verify(url, proof_id, "--receipts", str(bad), "--skip-chain", home=str(tmp_path), keys=str(keys))
    assert result.returncode == 3 and "not trusted" in result.stderr, result.stderr


def test_verify_without_api_on_a_keyless_machine_fails_and_creates_no_key(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir()
    result = subprocess.run([sys.executable, "-m", "dalrn_cli.main", "receipts", "verify", "any-dispute"],
                            env={**os.environ, "DALRN_HOME": str(tmp_path / "home"), "DALRN_KEYS_DIR": str(keys)},
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 3 and "--api" in result.stderr, result.stderr
    assert list(keys.iterdir()) == []

"""Every receipt-signing key still valid is published: a proof signed before a rotation
verifies after it, from a machine with no key; a revoked key is withdrawn and what it
signed is refused."""

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
from dalrn_core.keys import keys_dir
from dalrn_core.podp.batch import anchor_pending
from dalrn_core.podp.ledger import load_receipts
from dalrn_core.podp.signing import RECEIPT_KEY_FILE, ReceiptSigner
from gateway.routers.proofs import KEYS_PATH
from tests.gateway.gateway_app import make_app
from tests.gateway.live_app import live
from tests.podp.conftest import resolve_disputes

pytestmark = pytest.mark.timeout(300)


@pytest.fixture()
def gateway(home):
    with live(make_app(home)) as url:
        yield url


def _admin(home, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DALRN_HOME": str(home / "home"), "DALRN_KEYS_DIR": str(home / "keys"),
           "DALRN_GATEWAY_DATABASE_URL": f"sqlite:///{home / 'gateway.db'}"}
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", "admin", "receipt-key", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def _anchored_dispute(prefix: str, home) -> tuple[str, str]:
    """A dispute signed with the current key file, anchored; (its proof id, its receipts file)."""
    [dispute_id] = resolve_disputes(1, prefix=prefix)
    anchor_pending(open_embedded_anchor(), LocalContentStore())
    receipts = home / f"{prefix}-receipts.json"
    receipts.write_text(json.dumps(load_receipts(dispute_id, LocalContentStore())))
    return load_record(dispute_id)["anchor"]["leaf_receipt_cid"], str(receipts)


def _verify_keyless(url: str, proof_id: str, receipts: str, home) -> subprocess.CompletedProcess:
    """`dalrn receipts verify --api` from a machine with an empty key folder and data folder."""
    keyless = home / "verifier"
    (keyless / "keys").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DALRN_HOME": str(keyless / "home"), "DALRN_KEYS_DIR": str(keyless / "keys")}
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", "receipts", "verify", proof_id, "--api", url,
                           "--receipts", receipts, "--skip-chain"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _published(url: str) -> list[tuple[str, str, str]]:
    return [(k["kid"], k["status"], k["public_key"]) for k in httpx.get(url + KEYS_PATH).json()["keys"]]


def test_a_rotation_keeps_the_old_key_published_and_its_proofs_valid(gateway, home):
    first = ReceiptSigner.from_key_file().public_key
    assert _published(gateway) == [(first[:16], "active", first)]
    old_proof, old_receipts = _anchored_dispute("before", home)

    rotated = _admin(home, "rotate")
    assert rotated.returncode == 0 and first[:16] in rotated.stdout, rotated.stderr
    second = ReceiptSigner.from_key_file().public_key
    assert second != first and (keys_dir() / RECEIPT_KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert _published(gateway) == [(second[:16], "active", second), (first[:16], "retired", first)]
    new_proof, new_receipts = _anchored_dispute("after", home)

    for proof_id, receipts in ((old_proof, old_receipts), (new_proof, new_receipts)):
        done = _verify_keyless(gateway, proof_id, receipts, home)
        assert done.returncode == 0 and "signatures by the published keys valid" in done.stdout, done.stderr
    assert "2 receipt-signing key(s)" in _verify_keyless(gateway, old_proof, old_receipts, home).stdout

    # The old key leaked: withdrawn, what it signed no longer verifies; the new key's proofs still do.
    revoked = _admin(home, "revoke", first[:16])
    assert revoked.returncode == 0, revoked.stderr
    assert _published(gateway) == [(second[:16], "active", second)]
    refused = _verify_keyless(gateway, old_proof, old_receipts, home)
    assert refused.returncode == 3 and "not trusted" in refused.stderr, refused.stderr
    assert _verify_keyless(gateway, new_proof, new_receipts, home).returncode == 0


def test_a_key_file_replaced_by_hand_retires_the_key_seen_before(gateway, home):
    first = ReceiptSigner.from_key_file().public_key
    assert _published(gateway)[0][2] == first
    (keys_dir() / RECEIPT_KEY_FILE).write_bytes(b"\x05" * 32)
    second = ReceiptSigner.from_key_file().public_key
    assert [(kid, status) for kid, status, _ in _published(gateway)] == [(second[:16], "active"),
                                                                        (first[:16], "retired")]


def test_the_active_key_and_an_unknown_key_cannot_be_revoked(gateway, home):
    current = ReceiptSigner.from_key_file().public_key[:16]
    _published(gateway)
    active = _admin(home, "revoke", current)
    assert active.returncode == 2 and "kid" in active.stderr and "rotate first" in active.stderr
    unknown = _admin(home, "revoke", "0123456789abcdef")
    assert unknown.returncode == 2 and "was ever published" in unknown.stderr
    listed = _admin(home, "list", "--json")
    assert [k["kid"] for k in json.loads(listed.stdout)] == [current]

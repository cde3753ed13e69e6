"""A full disk under the content store, the records and the chain journal, and a corrupted
object in the content store: a clear error naming what could not be written or read,
nothing half-written, nothing silently lost, and the next start works.

The full disk is a real one: a 2 MiB tmpfs mounted for the test (as root; elsewhere the
test says why it skips), filled to the last byte by a filler file, then freed again.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dalrn_core.chain.embedded import EmbeddedChain
from dalrn_core.chain.local import open_embedded_anchor
from dalrn_core.dispute.records import (
    STATUS_ANCHOR_PENDING,
    load_record,
    record_path,
    update_record,
)
from dalrn_core.errors import IntegrityError
from dalrn_core.evidence.cid import cid_of
from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.batch import anchor_pending, pending
from dalrn_core.podp.ledger import append_receipt, load_receipts, receipt_cids
from dalrn_core.podp.merkle import merkle_root
from dalrn_core.podp.signing import ReceiptSigner
from dalrn_core.podp.verify import verify_dispute
from tests.podp.conftest import resolve_disputes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def small_disk(tmp_path, monkeypatch):
    """DALRN_HOME on a 2 MiB tmpfs of its own (keys stay off it)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          check=False, capture_output=True, text=True, timeout=30)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {made.stderr.strip()}")
    try:
        monkeypatch.setenv("DALRN_HOME", str(mount / "home"))
        monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True, timeout=30)


def _fill(mount: Path) -> Path:
    """Write a filler file until the file system refuses one more byte."""
    filler = mount / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for size in (1 << 16, 1 << 12, 1 << 8, 1):
            try:
                while True:
                    handle.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


def _leftovers(root: Path) -> list[Path]:
    """Temporary files a failed write would have left behind."""
    return [p for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".tmp-")]


def test_a_full_disk_fails_clearly_leaves_nothing_half_written_and_the_next_start_works(small_disk):
    (chain_id,) = resolve_disputes(1, prefix="full")
    client, store = open_embedded_anchor(), LocalContentStore()
    journal = client.chain.journal_path
    receipts_before = receipt_cids(chain_id)
    record_before = record_path(chain_id).read_bytes()
    filler = _fill(small_disk)

    # The content store: the error names the CID it could not write; no object, no temp file.
    evidence = os.urandom(50_000)
    with pytest.raises(OSError, match=f"could not write content {cid_of(evidence)}") as caught:
        store.put(evidence)
    assert caught.value.errno == errno.ENOSPC
    assert not store.has(cid_of(evidence))

    # A receipt: refused with the file named; the chain and its record are as they were.
    with pytest.raises(OSError, match="could not write") as caught:
        append_receipt(chain_id, "negotiate", store, ReceiptSigner.from_key_file(), outputs={"big": "x" * 20_000})
    assert caught.value.errno == errno.ENOSPC
    assert receipt_cids(chain_id) == receipts_before and record_path(chain_id).read_bytes() == record_before

    # A record update: the old record stays whole.
    with pytest.raises(OSError, match=f"could not write file {record_path(chain_id)}"):
        update_record(chain_id, status=STATUS_ANCHOR_PENDING, note="y" * 50_000)
    assert record_path(chain_id).read_bytes() == record_before

    # The chain journal: the last page may still hold an entry or two (those are journaled
    # and real); the first that does not fit is refused naming the journal, cut back to
    # where it began, and not kept in memory either.
    roots = [merkle_root([os.urandom(32)]) for _ in range(12)]
    journaled = []
    for root in roots:
        size = journal.stat().st_size
        try:
            client.anchor_root(root, 1, "ipfs://none")
        except OSError as exc:
            assert exc.errno == errno.ENOSPC and str(journal) in str(exc)
            assert journal.stat().st_size == size
            assert not client.is_anchored(root)
            refused = root
            break
        journaled.append(root)
    else:
        pytest.fail("every anchoring fitted on the full disk")
    restarted = EmbeddedChain(journal, funded_addresses=[client.account.address])  # a fresh start reads it whole
    assert restarted.journal_path.read_bytes().endswith(b"\n")

    # Anchoring the pending batch on the full disk fails (its manifest cannot be stored)
    # and the leaf stays pending.
    with pytest.raises(OSError, match="could not write"):
        anchor_pending(client, store)
    assert [e["chain_id"] for e in pending()] == [chain_id]
    assert _leftovers(small_disk) == []

    # Space again: the next start anchors what was pending, and everything verifies.
    filler.unlink()
    client = open_embedded_anchor()
    assert all(client.is_anchored(r) for r in journaled) and not client.is_anchored(refused)
    batch = anchor_pending(client, store)
    assert batch and batch["chains"] == [chain_id] and pending() == []
    assert verify_dispute(chain_id)
    assert store.get(store.put(evidence)) == evidence
    client.anchor_root(refused, 1, "ipfs://none")  # the refused one was never sent: it goes through now


def test_a_corrupted_object_is_refused_naming_its_cid_and_putting_it_again_repairs_it(home):
    (chain_id,) = resolve_disputes(1, prefix="rot")
    store = LocalContentStore()
    assert anchor_pending(open_embedded_anchor(), store)
    cid = receipt_cids(chain_id)[0]
    path = store.root / cid[-2:] / cid
    original = path.read_bytes()
    path.write_bytes(original.replace(b"intake", b"iNtake"))  # bytes changed under the CID

    with pytest.raises(IntegrityError, match=f"content does not match its CID: {cid} in the store at .* is corrupted"):
        store.get(cid)
    with pytest.raises(IntegrityError, match=cid):
        load_receipts(chain_id, store)
    with pytest.raises(IntegrityError, match=cid):
        verify_dispute(chain_id)
    cli = subprocess.run([sys.executable, "-m", "dalrn_cli.main", "receipts", "verify", chain_id],
                         check=False, capture_output=True, text=True, timeout=120, cwd=REPO, env=os.environ.copy())
    assert cli.returncode != 0 and cid in cli.stderr and "Traceback" not in cli.stderr

    assert store.put(original) == cid and path.read_bytes() == original  # the same bytes again repair it
    assert verify_dispute(chain_id)
    assert load_record(chain_id)["receipts"][0] == cid


def test_an_append_cut_short_leaves_the_file_as_it_was(small_disk):
    """`append_durably` directly: a line larger than the free space is not half-appended."""
    from dalrn_core.durable import append_durably

    log = small_disk / "log.jsonl"
    append_durably(log, json.dumps({"n": 1}) + "\n")
    before = log.read_bytes()
    _fill(small_disk)
    with pytest.raises(OSError, match=f"could not write file {log}"):
        append_durably(log, json.dumps({"n": 2, "pad": "z" * 100_000}) + "\n")
    assert log.read_bytes() == before

"""Verification never makes up a key to trust."""

from __future__ import annotations

import pytest

from dalrn_core.errors import IntegrityError
from dalrn_core.podp.signing import RECEIPT_KEY_FILE, ReceiptSigner


def test_public_key_from_file_refuses_without_creating_a_key(tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    with pytest.raises(IntegrityError, match="no receipt-signing key"):
        ReceiptSigner.public_key_from_file()
    assert not (tmp_path / "keys" / RECEIPT_KEY_FILE).exists()


def test_public_key_from_file_matches_the_signer(tmp_path, monkeypatch):
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    signer = ReceiptSigner.from_key_file()
    assert ReceiptSigner.public_key_from_file() == signer.public_key

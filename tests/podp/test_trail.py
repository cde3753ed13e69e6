"""A Trail signs one hash-chained receipt per step and times each stage."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from dalrn_core.evidence.store import LocalContentStore
from dalrn_core.podp.ledger import load_receipts, receipt_cids
from dalrn_core.podp.receipts import verify_chain
from dalrn_core.podp.signing import ReceiptSigner
from dalrn_core.podp.trail import Trail


class _Stage(BaseModel):
    chain_id: str
    value: int

    def receipt_fields(self):
        return {"params": {"value": self.value}, "outputs": {"double": 2 * self.value}}


class _Unnamed(BaseModel):
    def receipt_fields(self):
        return {}


class _Clock:
    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


def test_steps_are_signed_chained_and_timed(home):
    store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
    trail = Trail(store, signer, clock=_Clock(10.0, 10.25, 11.0, 13.5))
    first = trail.record("intake", _Stage(chain_id="trail-1", value=3))
    assert first.value == 3 and trail.chain_id == "trail-1"
    trail.step("route", inputs={"dispute": "ab" * 32}, outputs={"agent": 4})
    trail.step("anchor")
    assert trail.seconds == {"intake": 0.25, "route": 0.75, "anchor": 2.5}
    assert trail.receipts == receipt_cids("trail-1")
    receipts = load_receipts("trail-1", store)
    assert [r["step"] for r in receipts] == ["intake", "route", "anchor"]
    assert receipts[0]["params"] == {"value": 3} and receipts[0]["outputs"] == {"double": 6}
    assert receipts[1]["inputs"] == {"dispute": "ab" * 32}
    assert receipts[1]["prev"] == trail.receipts[0] and receipts[2]["prev"] == trail.receipts[1]
    verify_chain(receipts, chain_id="trail-1", trusted_signers={signer.public_key},
                 expected_cids=trail.receipts)


def test_misuse_is_refused(home):
    store, signer = LocalContentStore(), ReceiptSigner.from_key_file()
    trail = Trail(store, signer)
    with pytest.raises(ValueError, match="no chain id"):
        trail.step("route")
    with pytest.raises(ValueError, match="names none"):
        trail.record("intake", _Unnamed())
    trail.open("trail-2").step("intake")
    with pytest.raises(ValueError, match="already on this trail"):
        trail.step("intake")
    with pytest.raises(ValueError, match="already records chain"):
        trail.open("trail-3")
    assert receipt_cids("trail-2") == trail.receipts and len(trail.receipts) == 1

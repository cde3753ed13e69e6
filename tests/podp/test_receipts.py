"""Receipt chains: every edit, reordering, insertion, deletion or foreign signer is caught."""

import copy

import pytest
from nacl.signing import SigningKey

from dalrn_core.errors import IntegrityError
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.receipts import ReceiptChain, receipt_cid, verify_chain
from dalrn_core.podp.signing import ReceiptSigner

SIGNER = ReceiptSigner(b"\x01" * 32)


def _chain(n: int = 5) -> tuple[list[dict], list[str]]:
    chain = ReceiptChain("d-1", SIGNER)
    for i in range(n):
        chain.add(f"step{i}", inputs={"x": f"{i:064x}"}, params={"i": i}, outputs={"y": i})
    return chain.receipts, [receipt_cid(r) for r in chain.receipts]


def _verify(receipts, cids=None):
    verify_chain(receipts, chain_id="d-1", trusted_signers={SIGNER.public_key}, expected_cids=cids)


def test_untouched_chain_verifies():
    receipts, cids = _chain()
    _verify(receipts, cids)
    assert receipts[0]["prev"] is None and receipts[3]["prev"] == cids[2]


def test_canonical_form_is_rfc8785():
    # RFC 8785: keys sorted by UTF-16 code units, no spaces, shortest number forms.
    assert canonical_bytes({"b": 1.0, "a": [True, None], "é": "x"}) == b'{"a":[true,null],"b":1,"\xc3\xa9":"x"}'


def test_edit_breaks_signature():
    receipts, _ = _chain()
    receipts[2]["params"]["i"] = 99
    with pytest.raises(IntegrityError, match=r"d-1/002-step2: signature"):
        _verify(receipts)


def test_reorder_detected():
    receipts, _ = _chain()
    receipts[1], receipts[2] = receipts[2], receipts[1]
    with pytest.raises(IntegrityError, match="sequence"):
        _verify(receipts)


def test_deletion_detected():
    receipts, cids = _chain()
    del receipts[2]
    with pytest.raises(IntegrityError, match="sequence 3 at position 2"):
        _verify(receipts)
    receipts, cids = _chain()
    with pytest.raises(IntegrityError, match="the record lists 5"):
        _verify(receipts[:-1], cids)  # truncation of the tail


def test_insertion_detected():
    receipts, _ = _chain()
    forged = copy.deepcopy(receipts[1])
    receipts.insert(2, forged)
    with pytest.raises(IntegrityError):
        _verify(receipts)


def test_resigned_by_stranger_detected():
    receipts, _ = _chain()
    stranger = ReceiptSigner(bytes(SigningKey.generate()))
    rebuilt = ReceiptChain("d-1", stranger)
    for r in receipts:
        rebuilt.add(r["step"], inputs=r["inputs"], params=r["params"], outputs=r["outputs"])
    with pytest.raises(IntegrityError, match="not trusted"):
        _verify(rebuilt.receipts)


def test_other_dispute_detected():
    receipts, _ = _chain()
    with pytest.raises(IntegrityError, match="belongs to receipt chain"):
        verify_chain(receipts, chain_id="d-2")


def _version_1(receipt: dict, signer: ReceiptSigner = SIGNER) -> dict:
    """`receipt` as version 1 wrote it (chain id under "dispute_id"), signed again."""
    body = {k: v for k, v in receipt.items() if k not in ("signature", "chain_id")}
    body.update(version="dalrn.podp.receipt/1", dispute_id=receipt["chain_id"])
    return {**body, "signature": signer.sign(canonical_bytes(body))}


def test_receipts_name_their_chain_in_chain_id():
    receipts, _ = _chain(2)
    assert all(r["chain_id"] == "d-1" and "dispute_id" not in r for r in receipts)
    assert receipts[0]["version"] == "dalrn.podp.receipt/2"


def test_version_1_receipts_still_verify_and_a_v1_chain_continues_with_v2():
    first = _version_1(_chain(1)[0][0])
    chain = ReceiptChain("d-1", SIGNER, [first])
    chain.add("later", outputs={"y": 1})
    assert chain.receipts[1]["prev"] == receipt_cid(first) and chain.receipts[1]["chain_id"] == "d-1"
    _verify(chain.receipts, [receipt_cid(r) for r in chain.receipts])
    with pytest.raises(IntegrityError, match="belongs to receipt chain 'd-1'"):
        verify_chain(chain.receipts, chain_id="d-2")

"""The portal's browser code (portal/src) run by Node against the Python domain as the reference.

A receipt chain signed by `dalrn_core.podp`, a Merkle tree by `dalrn_core.podp.merkle`:
the JavaScript verification accepts it, and names the rule each alteration breaks (an
edited receipt, two swapped, one missing, an unpublished signer, a wrong sibling, another
root, a proof that is not the start of the chain); receipts past the anchored head are
checked and said to be outside the anchor. Its RFC 8785 bytes, CIDs and side commitments equal the Python ones.
"""

from __future__ import annotations

import json

import rfc8785

from dalrn_core.dispute.sides import commitment_of
from dalrn_core.evidence.cid import cid_of
from dalrn_core.podp.canonical import canonical_bytes
from dalrn_core.podp.merkle import merkle_proof, merkle_root
from dalrn_core.podp.receipts import ReceiptChain, receipt_cid, receipt_leaf
from dalrn_core.podp.signing import ReceiptSigner
from tests.portal.node_js import run_module

RUNNER = """
import { readFileSync } from "node:fs";
import { verifyDispute } from "./src/verify.js";
import { canonicalText } from "./src/jcs.js";
import { cidOf } from "./src/cid.js";
import { commitmentOf } from "./src/forms.js";
const job = JSON.parse(readFileSync(0, "utf8"));
const hex = (h) => Uint8Array.from(h.match(/../g) || [], (b) => parseInt(b, 16));
const out = {
  cases: Object.fromEntries(Object.entries(job.cases).map(([name, c]) => [name, verifyDispute({
    proof: c.proof, keys: c.keys, recorded: c.recorded,
    fetched: c.fetched.map((f) => ({ cid: f.cid, bytes: hex(f.hex) })) })])),
  canonical: job.values.map(canonicalText),
  cids: job.blobs.map((b) => cidOf(hex(b))),
  commitments: job.sides.map((s) => commitmentOf(s.salt, s.party, s.batna, s.payoffs)),
};
process.stdout.write(JSON.stringify(out));
"""


def _node(job: dict) -> dict:
    return run_module(RUNNER, job)


def _chain() -> tuple[list[dict], ReceiptSigner]:
    signer = ReceiptSigner(bytes(range(32)))
    chain = ReceiptChain("portal-acme/acme-globex-2026-002", signer)
    chain.add("intake", inputs={"dispute": "ab" * 32}, outputs={"commitments": {"acme": "cd" * 32}})
    chain.add("negotiate", params={"rule": "nsw"}, outputs={"payoffs": {"acme": 6.0, "globex": 5.0}})
    chain.add("explain", outputs={"settlement": {"outcome": "accept / offer", "terms": {"acme": "accept"}},
                                  "memo_cid": "b" + "a" * 58, "note": "é ✓ \u2028 \"quoted\""})
    return chain.receipts, signer


def _case(receipts: list[dict], signer: ReceiptSigner, *, others: int = 4) -> dict:
    cids = [receipt_cid(r) for r in receipts]
    leaves = [receipt_leaf(receipts[-1])] + [bytes([i + 1]) * 32 for i in range(others)]
    root = merkle_root(leaves)
    proof = {"receipts": cids, "leaf_receipt_cid": cids[-1], "leaf": "0x" + leaves[0].hex(),
             "proof": ["0x" + p.hex() for p in merkle_proof(leaves, 0)], "root": "0x" + root.hex(),
             "chain": {"chain_id": 1337, "tx_hash": "0x" + "77" * 32}}
    return {"proof": proof, "keys": {"keys": [{"public_key": signer.public_key}]},
            "recorded": {"merkle_root": proof["root"], "tx_hash": proof["chain"]["tx_hash"], "receipts": cids},
            "fetched": [{"cid": c, "hex": canonical_bytes(r).hex()} for c, r in zip(cids, receipts, strict=True)]}


def _broken(results: list[dict]) -> list[tuple[str | None, str]]:
    return [(r.get("step"), r["rule"]) for r in results if not r["ok"]]


def test_browser_verification_accepts_a_real_chain_and_names_each_broken_rule():
    receipts, signer = _chain()
    good = _case(receipts, signer)
    edited = json.loads(json.dumps(good))
    altered = json.loads(json.dumps(receipts[2]))
    altered["outputs"]["settlement"]["outcome"] = "litigate / contest"
    edited["fetched"][2]["hex"] = canonical_bytes(altered).hex()
    swapped = json.loads(json.dumps(good))
    swapped["fetched"][0]["hex"], swapped["fetched"][1]["hex"] = good["fetched"][1]["hex"], good["fetched"][0]["hex"]
    missing = json.loads(json.dumps(good))
    del missing["fetched"][1]
    unpublished = {**json.loads(json.dumps(good)), "keys": {"keys": [{"public_key": "00" * 32}]}}
    sibling = json.loads(json.dumps(good))
    sibling["proof"]["proof"][0] = "0x" + "00" * 32
    other_root = json.loads(json.dumps(good))
    other_root["recorded"]["merkle_root"] = "0x" + "11" * 32

    later = _case(receipts[:2], signer)  # anchored at the second receipt; the third waits for a later batch
    later["recorded"]["receipts"] = good["recorded"]["receipts"]
    later["fetched"] = good["fetched"]
    foreign = json.loads(json.dumps(later))
    foreign["recorded"]["receipts"] = foreign["recorded"]["receipts"][1:]

    out = _node({"cases": {"good": good, "edited": edited, "swapped": swapped, "missing": missing,
                           "unpublished": unpublished, "sibling": sibling, "other_root": other_root,
                           "later": later, "foreign": foreign},
                 "values": [], "blobs": [], "sides": []})["cases"]
    assert all(r["ok"] for r in out["good"]) and len(out["good"]) == len(receipts) + 3
    assert _broken(out["edited"]) == [("explain", "CID, Ed25519 signature"), (None, "anchored leaf")]
    assert ("intake", "CID, sequence, hash chain") in _broken(out["swapped"])
    assert (None, "receipt") in _broken(out["missing"])
    assert [rule for _, rule in _broken(out["unpublished"])] == ["signer"] * len(receipts)
    assert _broken(out["sibling"]) == [(None, "Merkle proof")]
    assert _broken(out["other_root"]) == [(None, "anchored root")]
    assert _broken(out["later"]) == [] and len(out["later"]) == len(receipts) + 3
    assert "later batch" in out["later"][2]["detail"] and "later batch" not in out["later"][1]["detail"]
    assert _broken(out["foreign"])[0] == (None, "published chain")


def test_canonical_json_cids_and_side_commitments_match_the_python_domain():
    values = [{"b": [1, 2.5, 0.1, 1e21, 1e-7, -0.0, 6.0], "a": "é\u2028\t\"\\</", "\u20ac": None, "A": True},
              {"z": {"y": [], "x": {}}, "10": 1, "9": 2, "\U0001f600": "emoji", "\u00e9": "e-acute"}]
    blobs = [b"", b"dalrn", canonical_bytes(values[0])]
    sides = [{"salt": "0f" * 32, "party": "acme", "batna": 2.0, "payoffs": [[6.0, 1.0], [4.0, 2.0]]},
             {"salt": "a1" * 32, "party": "globex", "batna": 1.039, "payoffs": [[5.029, 1.017], [2.011, 3.043]]}]
    out = _node({"cases": {}, "values": values, "blobs": [b.hex() for b in blobs], "sides": sides})
    assert out["canonical"] == [rfc8785.dumps(v).decode() for v in values]
    assert out["cids"] == [cid_of(b) for b in blobs]
    assert out["commitments"] == [commitment_of(s["salt"], s["party"], s["batna"], s["payoffs"]) for s in sides]

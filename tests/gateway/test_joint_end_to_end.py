"""Issue 13's "each party submits its own side", live: `dalrn serve`, two firms, one splits a
joint dispute, files the opening with `dalrn submit`, the other files its own side with
`dalrn join` from its own tenant home; the dispute runs only then and reaches `anchored`;
each firm's memo and dispute view show its own BATNA and payoffs and the other's only as a
commitment, the one the intake receipt carries and the firm's kept salt reproduces."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from dalrn_core.dispute.sides import PartySide, verify_commitment
from dalrn_core.evidence.store import LocalContentStore
from tests.gateway.test_end_to_end import _dalrn, _tenant, _token, served  # noqa: F401 - served is a fixture

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
# Four significant digits, as the memo's Markdown prints numbers.
OPENER = {"batna": 2.047, "payoffs": [[6.031, 1.021], [4.017, 2.013]]}
JOINER = {"batna": 1.039, "payoffs": [[5.029, 1.017], [2.011, 3.043]]}
OPENER_MARKERS = ["2.047", "6.031", "1.021", "4.017", "2.013"]
JOINER_MARKERS = ["1.039", "5.029", "1.017", "2.011", "3.043"]


def test_two_firms_each_file_their_own_side_and_reach_anchored(served, tmp_path):  # noqa: F811
    gateway, env = served["gateway"], served["env"]
    firms = {name: {**_tenant(name, env), "DALRN_TENANT_HOME": str(tmp_path / f"home-{name}")}
             for name in ("joint-a", "joint-b")}
    data = json.loads(SAMPLE.read_text())
    data.update(id="joint-e2e-001", tenant="joint-a")
    data["parties"][0].update(tenant="joint-a", batna=OPENER["batna"])
    data["parties"][1].update(tenant="joint-b", batna=JOINER["batna"])
    data["game"].update(row_payoffs=OPENER["payoffs"], col_payoffs=JOINER["payoffs"])
    whole = tmp_path / "whole.json"
    whole.write_text(json.dumps(data))

    split = _dalrn("split", str(whole), "--out", str(tmp_path / "split"), env=firms["joint-a"])
    assert split.returncode == 0, split.stderr
    opening, side = (Path(p) for p in split.stdout.split())
    assert not any(m in opening.read_text() for m in JOINER_MARKERS)

    sent = _dalrn("submit", str(opening), "--api", gateway, "--json", env=firms["joint-a"])
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["status"] == "awaiting_parties"
    joined = _dalrn("join", "joint-e2e-001", str(side), "--api", gateway, "--tenant", "joint-a", "--json",
                    env=firms["joint-b"])
    assert joined.returncode == 0, joined.stderr
    assert json.loads(joined.stdout)["waiting_for"] == []
    again = _dalrn("join", "joint-e2e-001", str(side), "--api", gateway, "--json", env=firms["joint-b"])
    assert again.returncode == 0 and json.loads(again.stdout)["commitment"] == json.loads(joined.stdout)["commitment"]

    views = {}
    for name, firm_env in firms.items():
        done = _dalrn("status", "joint-e2e-001", "--api", gateway, "--wait", "--timeout", "600", "--json",
                      env=firm_env, timeout=660)
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["status"] == "anchored", (name, answer)
        assert answer["settlement"]["terms"] == {"acme": "accept credit and cure",
                                                 "globex": "offer credit and relicense"}
        auth = {"Authorization": f"Bearer {_token(gateway, firm_env)}"}
        memo = httpx.get(f"{gateway}/v1/disputes/joint-e2e-001/memo", headers=auth, timeout=30)
        assert memo.status_code == 200, memo.text
        views[name] = (done.stdout, memo.json()["memo"])
    for name, own, other in (("joint-a", OPENER_MARKERS, JOINER_MARKERS), ("joint-b", JOINER_MARKERS, OPENER_MARKERS)):
        dispute_view, memo = views[name]
        assert all(m in memo for m in own), name
        assert not any(m in memo or m in dispute_view for m in other), name

    # Each firm's kept salt reproduces the commitment the signed intake receipt carries.
    token = _token(gateway, firms["joint-b"])
    cids = httpx.get(f"{gateway}/v1/disputes/joint-e2e-001/receipts", headers={"Authorization": f"Bearer {token}"},
                     timeout=30).json()["receipts"]
    store = LocalContentStore()  # the server's, on this host
    receipts = [json.loads(store.get(c)) for c in cids]
    intake = next(r for r in receipts if r["step"] == "intake")
    for name, party in (("joint-a", "acme"), ("joint-b", "globex")):
        (kept,) = (tmp_path / f"home-{name}" / "sides" / "joint-e2e-001").iterdir()
        side_kept = PartySide.model_validate_json(kept.read_text())
        assert verify_commitment(side_kept) and intake["outputs"]["commitments"][party] == side_kept.commitment
    for receipt in receipts:
        assert not any(m in json.dumps(receipt) for m in OPENER_MARKERS + JOINER_MARKERS)

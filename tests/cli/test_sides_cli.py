"""`dalrn split` and the salting of a side on the party's machine: what each side owns, the
salt made and kept in the tenant home (reused, so a retry sends the same body), clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dalrn_cli.sides import salted_opening, salted_side
from dalrn_core.dispute.model import Dispute
from dalrn_core.dispute.sides import PartySide, assemble, parse_shared, verify_commitment

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json"


def _dalrn(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", *args], capture_output=True, text=True,
                          timeout=120, check=False, env=env)


@pytest.fixture()
def joint_file(tmp_path) -> Path:
    data = json.loads(SAMPLE.read_text())
    data["parties"][0]["tenant"] = "acme-legal"
    data["parties"][1]["tenant"] = "globex-legal"
    path = tmp_path / "joint.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture()
def tenant_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "tenant"
    monkeypatch.setenv("DALRN_TENANT_HOME", str(home))
    return home


def test_split_writes_what_each_side_owns_and_nothing_more(joint_file, tmp_path, tenant_home):
    done = _dalrn("split", str(joint_file), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    opening_path = tmp_path / "out" / "acme-globex-2026-001.opening.json"
    side_path = tmp_path / "out" / "acme-globex-2026-001.globex.side.json"
    assert done.stdout.split() == [str(opening_path), str(side_path)]
    opening, globex = json.loads(opening_path.read_text()), json.loads(side_path.read_text())
    # The opener's file holds no globex value; neither file holds a salt (each party makes its own).
    assert "1.0" not in json.dumps(opening["parties"]) and "col_payoffs" not in opening["game"]
    assert opening["side"]["party"] == "acme" and "salt" not in opening["side"] and "salt" not in globex
    assert globex == {"party": "globex", "batna": 1.0, "payoffs": [[5.0, 1.0], [2.0, 3.0]],
                      "claim": json.loads(SAMPLE.read_text())["parties"][1]["claim"],
                      "evidence": [json.loads(SAMPLE.read_text())["evidence"][1]]}
    # Salted by each party's client, the sides assemble back to the whole dispute.
    sent = salted_opening(opening)
    sides = {"acme": PartySide.model_validate(sent["side"]),
             "globex": salted_side(globex, "acme-globex-2026-001")}
    shared = parse_shared({k: v for k, v in sent.items() if k != "side"})
    assert assemble(shared, sides) == Dispute.model_validate(json.loads(joint_file.read_text()))


def test_the_salt_is_made_once_kept_privately_and_reused(tenant_home):
    draft = {"party": "globex", "batna": 1.0, "payoffs": [[5, 1], [2, 3]]}
    first, again = salted_side(draft, "d-1"), salted_side(dict(draft), "d-1")
    assert first == again and verify_commitment(first)
    (kept,) = (tenant_home / "sides" / "d-1").iterdir()
    assert oct(kept.stat().st_mode & 0o777) == "0o600" and json.loads(kept.read_text())["salt"] == first.salt
    changed = salted_side({**draft, "batna": 1.5}, "d-1")
    assert changed.salt != first.salt  # other inputs, a fresh salt: no salt is ever used for two inputs
    assert salted_side(draft, "d-2").salt != first.salt


def test_a_side_changed_after_its_commitment_is_refused(tenant_home, tmp_path):
    side = salted_side({"party": "globex", "batna": 1.0, "payoffs": [[5, 1], [2, 3]]}, "d-1")
    tampered = tmp_path / "side.json"
    tampered.write_text(json.dumps({**side.model_dump(mode="json"), "batna": 4.0}))
    done = _dalrn("join", "d-1", str(tampered), "--api", "http://127.0.0.1:9")
    assert done.returncode == 2 and "commitment: does not match" in done.stderr


@pytest.mark.parametrize("args, says", [
    (["split", "{sample}", "--out", "{out}"], "the filing is one-sided"),
    (["split", "{joint}", "--out", "{out}", "--party", "initech"], "party: 'initech' is not a party"),
    (["join", "d-1", "{missing}"], "cannot read"),
    (["join", "d-1", "{bad_side}", "--api", "http://127.0.0.1:9"], "payoffs"),
])
def test_bad_input_exits_2_naming_the_field(args, says, joint_file, tmp_path, tenant_home):
    bad_side = tmp_path / "bad.json"
    bad_side.write_text(json.dumps({"party": "globex", "batna": 1.0, "payoffs": "lots"}))
    paths = {"sample": SAMPLE, "joint": joint_file, "out": tmp_path / "out", "missing": tmp_path / "nope.json",
             "bad_side": bad_side}
    done = _dalrn(*[a.format(**paths) for a in args])
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr


def test_the_joint_example_splits_into_an_opening_and_globex_side(tmp_path, tenant_home):
    example = SAMPLE.with_name("supply-contract-joint.json")
    done = _dalrn("split", str(example), "--out", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    opening = json.loads((tmp_path / "out" / "acme-globex-2026-002.opening.json").read_text())
    side = json.loads((tmp_path / "out" / "acme-globex-2026-002.globex.side.json").read_text())
    sent = salted_opening(opening)
    shared = parse_shared({k: v for k, v in sent.items() if k != "side"})
    sides = {"acme": PartySide.model_validate(sent["side"]), "globex": salted_side(side, shared.id)}
    assert assemble(shared, sides) == Dispute.model_validate(json.loads(example.read_text()))

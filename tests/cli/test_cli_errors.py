"""The CLI refuses bad input with the field and rule, a non-zero exit, no traceback, and
nothing stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "supply-contract.json").read_text())


def _dalrn(*args, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "DALRN_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "dalrn_cli.main", *args], capture_output=True,
                          text=True, env=env, timeout=300, check=False)


@pytest.mark.parametrize(
    "content,expected",
    [
        ("{broken", "not valid JSON"),
        (json.dumps({**SAMPLE, "parties": SAMPLE["parties"][:1]}), "parties: List should have at least 2"),
        (json.dumps({**SAMPLE, "evidence": [{**SAMPLE["evidence"][0], "party": "ghost"}]}), "evidence[0].party: unknown party 'ghost'"),
    ],
)
def test_resolve_bad_file(tmp_path, content, expected):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    home = tmp_path / "home"
    out = _dalrn("resolve", str(bad), home=home)
    assert out.returncode == 2
    assert expected in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not (home / "disputes").exists() and not (home / "content").exists()


def test_resolve_missing_file(tmp_path):
    out = _dalrn("resolve", str(tmp_path / "nope.json"), home=tmp_path / "home")
    assert out.returncode == 2 and "file: cannot read" in out.stderr


def test_verify_unknown_dispute(tmp_path, monkeypatch):
    # on the operator's machine (a receipt-signing key exists) an unknown id is bad input
    monkeypatch.setenv("DALRN_KEYS_DIR", str(tmp_path / "keys"))
    from dalrn_core.podp.signing import ReceiptSigner

    ReceiptSigner.from_key_file()
    out = _dalrn("receipts", "verify", "no-such-dispute", home=tmp_path / "home")
    assert out.returncode == 2 and "dispute_id: no resolved dispute" in out.stderr


@pytest.mark.parametrize(
    "payload,expected",
    [
        ({"row_payoffs": [[1, 2]], "col_payoffs": [[1]]}, "col_payoffs"),
        ({"row_payoffs": [], "col_payoffs": []}, "row_payoffs"),
        ({"row_payoffs": [[1]], "col_payoffs": [[1]], "rule": "best"}, "rule"),
    ],
)
def test_negotiate_bad_file(tmp_path, payload, expected):
    bad = tmp_path / "game.json"
    bad.write_text(json.dumps(payload))
    out = _dalrn("negotiate", str(bad), "--json", home=tmp_path / "home")
    assert out.returncode != 0 and expected in out.stderr and "Traceback" not in out.stderr

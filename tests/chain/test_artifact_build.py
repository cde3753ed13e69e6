"""The committed AnchorReceipts artifact is what the pinned npm solc builds from the source."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from dalrn_core.chain.contract import ARTIFACTS

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_recompiled_artifact_matches_the_committed_one(tmp_path):
    if not (CONTRACTS / "node_modules" / "solc").exists():
        pytest.skip("contracts/node_modules missing: run `make contracts` (npm ci)")
    pinned = json.loads((CONTRACTS / "package.json").read_text())["dependencies"]["solc"]
    subprocess.run(["node", "compile.js", str(tmp_path)], cwd=CONTRACTS, check=True,
                   capture_output=True, timeout=300)
    built = json.loads((tmp_path / "AnchorReceipts.json").read_text())
    committed = json.loads((ARTIFACTS / "AnchorReceipts.json").read_text())
    assert built["compiler"].startswith(f"solc {pinned}+")
    assert built["compiler"] == committed["compiler"]
    assert built["abi"] == committed["abi"]
    assert built["bytecode"] == committed["bytecode"]
    assert built["deployedBytecode"] == committed["deployedBytecode"]

"""Runs an ES module of the portal's own source in Node, with a JSON job on stdin."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

PORTAL = Path(__file__).resolve().parents[2] / "portal"


def run_module(source: str, job: dict) -> dict:
    """The JSON the module writes on stdout; the test skips where Node or the portal's
    packages are missing, and fails with Node's own message when the module does."""
    if shutil.which("node") is None or not (PORTAL / "node_modules").exists():
        pytest.skip("node or portal/node_modules missing (make test installs it: npm ci in portal/)")
    done = subprocess.run(["node", "--input-type=module", "-e", source], cwd=PORTAL, input=json.dumps(job),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)

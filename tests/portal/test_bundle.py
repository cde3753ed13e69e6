"""The committed script bundle is exactly what `make portal` builds from portal/src."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "gateway" / "portal" / "static" / "portal.js"


def test_committed_bundle_is_what_the_build_produces(tmp_path):
    if shutil.which("node") is None or not (ROOT / "portal" / "node_modules" / "esbuild").exists():
        pytest.skip("node or portal/node_modules missing (make test installs it: npm ci in portal/)")
    built = tmp_path / "portal.js"
    done = subprocess.run(["node", "build.mjs", str(built)], cwd=ROOT / "portal", capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert built.read_bytes() == BUNDLE.read_bytes(), "gateway/portal/static/portal.js is stale: run make portal"

"""`dalrn submit` refuses a file that is not a dispute's JSON object before it reaches for the
gateway: exit 2, the field and rule named, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.gateway.prefect_server import free_port


@pytest.mark.parametrize("content,rule", [
    (None, "cannot read"),
    (b"\xff\xfe\x00binary", "is not UTF-8 text"),
    (b"{broken", "is not valid JSON"),
    (b'["a", "list"]', "must hold a JSON object (a dispute)"),
])
def test_a_bad_file_is_refused_before_any_request(tmp_path, content, rule):
    path = tmp_path / "dispute.json"
    if content is not None:
        path.write_bytes(content)
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens: a request would fail otherwise
    env = {**os.environ, "DALRN_API_KEY": "kid:secret"}
    done = subprocess.run([sys.executable, "-m", "dalrn_cli.main", "submit", str(path), "--api", nobody], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2 and "  - file: " in done.stderr and rule in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "cannot reach" not in done.stderr

"""`dalrn soan plot` draws a PNG; `dalrn soan metrics` serves per-agent gauges on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request


def _env(tmp_path) -> dict:
    return {**os.environ, "DALRN_HOME": str(tmp_path / "home")}


def test_plot_writes_a_png(tmp_path):
    out = tmp_path / "net.png"
    done = subprocess.run([sys.executable, "-m", "dalrn_cli.main", "soan", "plot", "--out", str(out)],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_endpoint_serves_every_agent(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "dalrn_cli.main", "soan", "metrics", "--port", str(port),
                               "--refresh", "1", "--seconds", "90"], env=_env(tmp_path),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body, deadline = "", time.monotonic() + 80
        while time.monotonic() < deadline and "soan_agent_utilisation{" not in body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.5)
            else:
                time.sleep(0.5)
        utilisation = [line for line in body.splitlines() if line.startswith("soan_agent_utilisation{")]
        assert len(utilisation) == 100  # the default network's 100 agents
        assert all(0.0 <= float(line.rsplit(" ", 1)[1]) < 1.0 for line in utilisation)
    finally:
        server.terminate()
        server.wait(timeout=30)

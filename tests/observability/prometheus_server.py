"""Debian's Prometheus on loopback for one test: a generated scrape config, its own TSDB folder."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from dalrn_cli.stack import free_port

PROMETHEUS = "/usr/bin/prometheus"


@dataclass(frozen=True)
class Prometheus:
    url: str

    def query(self, promql: str) -> list[dict]:
        """The instant vector `promql` evaluates to now (Prometheus' HTTP API)."""
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def until(self, promql: str, accept, timeout_s: float = 30.0) -> float:
        """Poll `promql` until its single value satisfies `accept` (scrapes come every second)."""
        deadline, seen = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            seen = self.value(promql)
            if seen is not None and accept(seen):
                return seen
            time.sleep(0.5)
        raise AssertionError(f"{promql} never satisfied the condition within {timeout_s} s (last: {seen})")


def available() -> str | None:
    return None if shutil.which(PROMETHEUS) else f"{PROMETHEUS} is not installed (make servers installs it)"


def _config(targets: dict[str, list[str]]) -> str:
    jobs = "".join(f"  - job_name: {job}\n    static_configs:\n      - targets: [{', '.join(repr(t) for t in hosts)}]\n"
                   for job, hosts in targets.items())
    return f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}"


@contextlib.contextmanager
def prometheus(folder: Path, targets: dict[str, list[str]], timeout_s: float = 30.0) -> Iterator[Prometheus]:
    """Prometheus scraping `targets` ({job: ["127.0.0.1:PORT"]}) every second; stopped on exit."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "prometheus.yml"
    config.write_text(_config(targets))
    port = free_port()
    log = open(folder / "prometheus.log", "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert process.poll() is None, (folder / "prometheus.log").read_text()[-2000:]
            try:
                if httpx.get(f"{url}/-/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("Prometheus did not become ready")
            time.sleep(0.2)
        yield Prometheus(url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()

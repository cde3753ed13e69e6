"""Multiprocess mode: what several processes counted is summed by one scrape of any of them."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.timeout(120)]

COUNT = """
from dalrn_core.observability import metrics
metrics.DISPUTES_RESOLVED.labels("settled").inc({n})
metrics.DISPUTE_STAGE_DURATION.labels("negotiate").observe(0.2)
"""

SERVE = """
import sys, urllib.request
from dalrn_core.observability import serve_metrics
server = serve_metrics(0)
sys.stdout.write(urllib.request.urlopen(server.url, timeout=10).read().decode())
server.stop()
"""


def _python(code: str, env: dict[str, str]) -> str:
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          check=True).stdout


def test_counts_of_several_processes_are_summed(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DALRN_HOME": str(tmp_path / "home")}
    _python(COUNT.format(n=2), env)
    _python(COUNT.format(n=3), env)
    text = _python(SERVE, env)  # a third process serves what the two counted
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("dalrn_disputes_resolved_total", (("outcome", "settled"),))] == 5
    assert samples[("dalrn_dispute_stage_duration_seconds_count", (("stage", "negotiate"),))] == 2
    assert samples[("dalrn_anchors_pending", ())] == 0  # read from the data folder at the scrape


def test_single_process_server_serves_its_own_registry(tmp_path):
    from dalrn_core.observability import metrics, serve_metrics

    metrics.CACHE_LOOKUPS.labels("embeddings", "hit").inc()
    server = serve_metrics(0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        text = urllib.request.urlopen(server.url, timeout=10).read().decode()
    finally:
        server.stop()
    assert 'dalrn_cache_lookups_total{cache="embeddings",result="hit"}' in text

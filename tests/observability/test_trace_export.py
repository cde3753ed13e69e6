"""Spans leave over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set; sampling follows OTEL_TRACES_SAMPLER.

Each case runs in a fresh interpreter (a process has one tracer provider), against a real
HTTP listener on loopback standing where the collector would be.
"""

from __future__ import annotations

import http.server
import subprocess
import sys
import threading
from typing import ClassVar

import pytest

pytestmark = [pytest.mark.timeout(120)]

EMIT = """
from dalrn_core.observability.tracing import configure_tracing, current_trace_id, tracer
provider = configure_tracing("dalrn-export-test")
with tracer().start_as_current_span("exported-span"):
    print(current_trace_id())
provider.force_flush()
provider.shutdown()
"""


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self):  # http.server's hook name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Collector.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture()
def collector():
    _Collector.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.received
    finally:
        server.shutdown()
        server.server_close()


def _emit(env: dict[str, str]) -> str:
    import os

    done = subprocess.run([sys.executable, "-c", EMIT], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=60, check=True)
    return done.stdout.strip()


def test_spans_are_exported_over_otlp_http(collector):
    url, received = collector
    trace_id = _emit({"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_TRACES_SAMPLER": "always_on"})
    assert len(trace_id) == 32
    assert [(path, kind) for path, kind, _body in received] == [("/v1/traces", "application/x-protobuf")]
    body = received[0][2]
    assert bytes.fromhex(trace_id) in body and b"exported-span" in body and b"dalrn-export-test" in body


def test_sampling_off_exports_nothing_but_keeps_trace_ids(collector):
    url, received = collector
    trace_id = _emit({"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_TRACES_SAMPLER": "always_off"})
    assert len(trace_id) == 32 and received == []  # the id still names the dispute's trace


def test_no_endpoint_no_export(collector):
    _url, received = collector
    assert len(_emit({"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_TRACES_SAMPLER": "always_on"})) == 32
    assert received == []

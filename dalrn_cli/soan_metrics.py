"""`dalrn soan metrics`: the live network's per-agent gauges, served for Prometheus.

Queue length, utilisation and instability of every mediator agent (closed forms of the
current network version), on a loopback HTTP endpoint that Prometheus scrapes; refreshed
as the scheduled rewiring stores new versions.
"""

from __future__ import annotations

import time

from prometheus_client import start_http_server

from dalrn_core.soan.metrics import SoanMetrics
from dalrn_core.soan.store import load_current_network


def serve_metrics(port: int, *, refresh_s: float = 15.0, duration_s: float | None = None, say=print) -> int:
    metrics = SoanMetrics()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    say(f"serving mediator metrics on http://127.0.0.1:{port}/metrics (Ctrl-C stops)")
    deadline = None if duration_s is None else time.monotonic() + duration_s
    shown = None
    try:
        while deadline is None or time.monotonic() < deadline:
            version = load_current_network()
            if version.hash != shown:
                metrics.observe_network(version.graph, version.state)
                shown = version.hash
            time.sleep(refresh_s if deadline is None else min(refresh_s, max(deadline - time.monotonic(), 0)))
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        thread.join(timeout=5)
    return 0

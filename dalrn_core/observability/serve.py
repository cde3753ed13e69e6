"""`serve_metrics(port)`: a process's `/metrics` on its own small HTTP server (workers).

The gateway answers `/metrics` itself; a dispute worker has no web app, so it calls this
once at start. In multiprocess mode the server sums every process's files, so one port per
host is enough however many workers fork; `forget_process` drops a dead worker's live gauges.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import multiprocess, start_http_server

from dalrn_core.observability.metrics import multiprocess_dir, scrape_registry


@dataclass
class MetricsServer:
    """A running `/metrics` server: where it listens, and how to stop it."""

    host: str
    port: int
    _server: WSGIServer
    _thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve this process's (or, in multiprocess mode, every process's) metrics on `host:port`.

    Port 0 picks a free port (read it back from `.port`). Loopback by default: a worker's
    metrics are for the Prometheus beside it, not the internet.
    """
    server, thread = start_http_server(port, addr=host, registry=scrape_registry())
    return MetricsServer(host=host, port=int(server.server_port), _server=server, _thread=thread)


def forget_process(pid: int) -> None:
    """A worker process `pid` ended: its live gauges (in progress, queue length) stop counting."""
    if multiprocess_dir() is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]

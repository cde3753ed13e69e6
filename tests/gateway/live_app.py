"""Serve a FastAPI app with uvicorn in a thread on a free loopback port, for one test."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import uvicorn

from tests.gateway.prefect_server import free_port


@contextlib.contextmanager
def live(app, probe: str = "/openapi.json", timeout_s: float = 30.0):
    """Yields the base URL of `app` served on 127.0.0.1; stops the server after."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test gateway did not start")
        time.sleep(0.05)
    try:
        httpx.get(url + probe, timeout=5)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=15)

"""Serve a FastAPI app with uvicorn in a thread on a free loopback port, for one test."""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time

import httpx
import uvicorn

from tests.gateway.prefect_server import free_port


@contextlib.contextmanager
def live(app, probe: str = "/openapi.json", timeout_s: float = 30.0):
    """Yields the base URL of `app` served on 127.0.0.1 (with this context's settings); stops it after."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    # The server thread sees this thread's context, so Prefect's temporary settings hold there.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(server.run,), daemon=True)
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

"""One watch for outside suspensions of every run a dispute worker holds, not one per run.

For each run of a deployment, Prefect's flow engine starts a suspension observer for that
run alone (`prefect._flow_run_suspension.observe_flow_run_suspension`): its own thread and
event loop, its own API client (a TLS context, about 25 ms of CPU), its own events
websocket to the server (which then filters every event for it), and the worker's event
loop blocks while all that connects. Prefect's `FlowRunSuspendingObserver` watches any
number of runs at once (Prefect's runner uses it so); a worker keeps one, in one thread,
for all the runs it holds, and the engine's per-run observer is swapped for a watch on it
while the worker runs (`watching_suspensions`). What a run does when it is suspended is
Prefect's, unchanged: the observer marks the run's suspension request, the engine acts on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID

READY_TIMEOUT_S = 30.0


class SharedSuspensionWatch:
    """A `FlowRunSuspendingObserver` on its own loop and thread, watching the runs it is given."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._observer: Any = None
        self._requests: dict[UUID, Any] = {}  # each watched run's suspension request
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    def start(self) -> None:
        context = contextvars.copy_context()  # the worker's Prefect settings, in the new thread
        self._thread = threading.Thread(target=lambda: context.run(asyncio.run, self._serve()),
                                        name="dalrn-suspension-watch", daemon=True)
        self._thread.start()
        if not self._started.wait(READY_TIMEOUT_S) or self._observer is None:
            raise RuntimeError(f"the suspension watch did not start: {self._failure!r}")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=READY_TIMEOUT_S)

    async def _serve(self) -> None:
        from prefect._internal.observers import FlowRunSuspendingObserver

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            async with FlowRunSuspendingObserver(on_suspended=self._suspended) as observer:
                self._observer = observer
                self._started.set()
                await self._stop.wait()
        except BaseException as exc:  # noqa: BLE001 - said by start(), which waits on it
            self._failure = exc
        finally:
            self._started.set()

    def _suspended(self, flow_run_id: UUID, state: Any) -> None:
        from prefect._flow_run_suspension import mark_flow_run_suspension_requested

        if not mark_flow_run_suspension_requested(flow_run_id, state):
            request = self._requests.get(flow_run_id)
            if request is not None:
                request.mark_requested(state)

    def watched(self) -> int:
        """How many runs are watched now."""
        return len(self._requests)

    @contextlib.contextmanager
    def observe(self, flow_run_id: UUID, suspension_request: Any, polling_interval: float = 10) -> Iterator[None]:
        """What the engine enters for a run: watched from now (its state read once) until it leaves."""
        if self._loop is None or self._observer is None:
            raise RuntimeError("the suspension watch is not started")
        self._requests[flow_run_id] = suspension_request
        asyncio.run_coroutine_threadsafe(self._observer.watch_flow_run_id(flow_run_id), self._loop
                                         ).result(READY_TIMEOUT_S)
        try:
            yield
        finally:
            self._requests.pop(flow_run_id, None)
            if self._loop.is_running():
                self._loop.call_soon_threadsafe(self._observer.remove_in_flight_flow_run_id, flow_run_id)


@contextlib.contextmanager
def watching_suspensions() -> Iterator[SharedSuspensionWatch]:
    """Runs started inside are watched by one shared observer instead of one each."""
    import prefect.flow_engine as engine

    watch = SharedSuspensionWatch()
    watch.start()
    per_run = engine.observe_flow_run_suspension
    engine.observe_flow_run_suspension = watch.observe  # type: ignore[assignment]
    try:
        yield watch
    finally:
        engine.observe_flow_run_suspension = per_run  # type: ignore[assignment]
        watch.stop()

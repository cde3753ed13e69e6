"""Reads of flow runs by id, gathered: the requests of one short window share one Prefect call.

Every status read of a dispute reads its run. Under load the parties poll many disputes a
second, each read a Prefect API call and a database query on Prefect's side, and those
calls, not the disputes' work, became the Prefect server's main load. Gathering the reads
that arrive within `window_s` into one filtered read (`id in [...]`) costs Prefect one
call per window, however many disputes are being followed; each read waits at most the
window, and sees the run as it stood after the read was asked for.
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

WINDOW_S = 0.05


class BatchedRunReads:
    """`read(run_id)`: the flow run, or None where Prefect holds no such run. One per event loop."""

    def __init__(self, client: Any, window_s: float = WINDOW_S, most: int = 200) -> None:
        self.client, self.window_s, self.most = client, window_s, most
        self._waiting: dict[UUID, list[asyncio.Future]] = {}
        self._flush: asyncio.Task | None = None

    async def read(self, run_id: UUID) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(run_id, []).append(future)
        if self._flush is None:
            self._flush = asyncio.create_task(self._read_window())
        return await future

    async def _read_window(self) -> None:
        await asyncio.sleep(self.window_s)
        waiting, self._waiting, self._flush = self._waiting, {}, None
        fetch = asyncio.ensure_future(self._fetch(list(waiting)))
        # Whatever the read ends with, a run, a failure or a cancel, reaches every reader.
        fetch.add_done_callback(lambda done: _deliver(waiting, done))
        await asyncio.wait([fetch])

    async def _fetch(self, ids: list[UUID]) -> dict[UUID, Any]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        found: dict[UUID, Any] = {}
        for start in range(0, len(ids), self.most):
            chunk = ids[start:start + self.most]
            runs = await self.client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=chunk)),
                                                    limit=len(chunk))
            found.update((run.id, run) for run in runs)
        return found


def _deliver(waiting: dict[UUID, list[asyncio.Future]], done: asyncio.Future) -> None:
    for run_id, futures in waiting.items():
        for future in futures:
            if future.done():
                continue
            if done.cancelled():
                future.cancel()
            elif done.exception() is not None:
                future.set_exception(done.exception())
            else:
                future.set_result(done.result().get(run_id))

"""Pause a dispute run for its tenant's input, with one read a second for all of a process's pauses.

Prefect's `pause_flow_run` has each paused run read its own state every poll interval. A
dispute worker holds many runs paused at once (each waits for its tenant's reveal), so at
volume those reads were a good part of the Prefect server's work. Here the pause itself is
Prefect's (a Paused state with its pause key and input keyset, the input's schema saved
for the UI's form, resumed with `resume_flow_run`, the input read back), and only the
waiting is shared: one `read_flow_runs` a poll interval asks for every run this process
holds paused.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TypeVar
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext
from prefect.exceptions import Abort, FlowPauseTimeout
from prefect.input import keyset_from_paused_state
from prefect.input.run_input import RunInput
from prefect.logging import get_run_logger
from prefect.states import Paused
from prefect.utilities.engine import propose_state

Input = TypeVar("Input", bound=RunInput)
_log = logging.getLogger("dalrn.paused_runs")


class _SharedWait:
    """The runs of one event loop that wait to be resumed, checked together."""

    def __init__(self, poll_s: float) -> None:
        self.poll_s = poll_s
        self.waiting: dict[UUID, asyncio.Future[None]] = {}
        self.poller: asyncio.Task[None] | None = None

    async def resumed(self, flow_run_id: UUID, timeout_s: float) -> bool:
        """Whether the run left its pause for Running within `timeout_s`."""
        future = self.waiting.setdefault(flow_run_id, asyncio.get_running_loop().create_future())
        if self.poller is None or self.poller.done():
            self.poller = asyncio.create_task(self._poll())
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            self.waiting.pop(flow_run_id, None)

    async def _poll(self) -> None:
        async with get_client() as client:
            while self.waiting:
                await asyncio.sleep(self.poll_s)
                ids = list(self.waiting)
                if not ids:
                    break
                try:
                    runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),
                                                       limit=len(ids))
                except httpx.HTTPError as exc:  # the server is briefly away or busy: ask again next round
                    _log.debug("reading paused runs failed: %s", exc)
                    continue
                for run in runs:
                    future = self.waiting.get(run.id)
                    if future is not None and not future.done() and run.state is not None and run.state.is_running():
                        future.set_result(None)


_WAITS: dict[asyncio.AbstractEventLoop, _SharedWait] = {}


def _shared_wait(poll_s: float) -> _SharedWait:
    loop = asyncio.get_running_loop()
    for other in [known for known in _WAITS if known.is_closed()]:
        del _WAITS[other]
    return _WAITS.setdefault(loop, _SharedWait(poll_s))


async def pause_for_input(wait_for_input: type[Input], *, key: str, timeout_s: int, poll_s: float = 1.0) -> Input:
    """Pause the current flow run until it is resumed with a `wait_for_input`; return that input.

    Raises FlowPauseTimeout when no one resumed it within `timeout_s`, as Prefect's pause does.
    """
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        raise RuntimeError("Flow runs can only be paused from within a flow run.")
    proposed: State = Paused(timeout_seconds=timeout_s, reschedule=False, pause_key=key)
    keyset = keyset_from_paused_state(proposed)
    proposed.state_details.run_input_keyset = {str(name): value for name, value in keyset.items()}
    get_run_logger(context=context).info("Pausing flow, execution will continue when this flow run is resumed.")
    async with get_client() as client:
        try:
            state = await propose_state(client=client, state=proposed, flow_run_id=context.flow_run.id)
        except Abort as exc:
            raise RuntimeError(f"Flow run cannot be paused: {exc}") from exc
        if state.is_running():  # paused and resumed before (a run started again): its input is kept
            return await wait_for_input.aload(keyset)
        if not state.is_paused():
            raise RuntimeError(f"Flow run cannot be paused. Received non-paused state from API: {state}")
        await wait_for_input.asave(keyset)  # the schema the UI's form and the resume's check use
        if not await _shared_wait(poll_s).resumed(context.flow_run.id, timeout_s):
            final = await client.read_flow_run(context.flow_run.id)  # one last look, as Prefect's pause takes
            if not (final.state and final.state.is_running()):
                raise FlowPauseTimeout("Flow run was paused and never resumed.")
        get_run_logger(context=context).info("Resuming flow run execution!")
        return await wait_for_input.aload(keyset)

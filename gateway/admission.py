"""At most so many requests inside the app at once; the rest wait at the door.

A request's database session is synchronous and runs on the event loop. With every pooled
connection held by requests that are awaiting something, the next checkout would block the
event loop itself, and with it the very requests that would give a connection back: the
gateway stalls for the pool's whole timeout and then fails every request in flight (seen
under load). Admitting fewer requests than the pool has connections rules that out, since
a request holds at most one; the ones waiting hold nothing and are let in as others leave.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

# Cheap and never touching the database: answered even while the door is full.
EXEMPT = frozenset({"/metrics", "/healthz"})
_SCOPE_KEY = "dalrn.admission"


class _Slot:
    """One admitted request's place inside, which it may give back for a while."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self.slots, self.held = slots, False

    async def take(self) -> None:
        await self.slots.acquire()
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.slots.release()


@asynccontextmanager
async def stepped_out(scope: dict[str, Any]) -> AsyncIterator[None]:
    """Wait outside the door: the request's slot is free meanwhile, and taken again after.

    For a request that waits on nothing of the gateway's (a long poll between two looks)
    and holds no connection while it does: so many such waits never keep others out.
    """
    slot = scope.get(_SCOPE_KEY)
    if not isinstance(slot, _Slot):
        yield
        return
    slot.give_back()
    try:
        yield
    finally:
        await slot.take()


class Admission:
    """ASGI middleware: at most `limit` requests (other than `EXEMPT` paths) inside at once."""

    def __init__(self, app, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.app, self.limit = app, limit
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def inside(self) -> int:
        """Requests inside now (for tests and the operator's curiosity)."""
        return 0 if self._slots is None else self.limit - self._slots._value

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") in EXEMPT:
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a semaphore belongs to one loop; a test may run the app in several
            self._slots, self._loop = asyncio.Semaphore(self.limit), loop
        slot = _Slot(self._slots)
        await slot.take()
        scope[_SCOPE_KEY] = slot
        try:
            await self.app(scope, receive, send)
        finally:
            slot.give_back()  # not held when cancelled while stepping back in

"""The gateway's real `DisputeRuns`, noting at every call how many of the gateway's database
connections are checked out: the number a request holds while it waits on Prefect."""

from __future__ import annotations

from collections import defaultdict

from gateway.runs import DisputeRuns


class PoolWatchingRuns(DisputeRuns):
    """Set `engine` to the app's engine once the app exists; `held[method]` lists the counts."""

    engine = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.held: dict[str, list[int]] = defaultdict(list)

    def _note(self, method: str) -> None:
        if self.engine is not None:
            self.held[method].append(self.engine.pool.checkedout())

    async def start(self, *args, **kwargs):
        self._note("start")
        return await super().start(*args, **kwargs)

    async def view(self, *args, **kwargs):
        self._note("view")
        return await super().view(*args, **kwargs)

    async def search(self, *args, **kwargs):
        self._note("search")
        return await super().search(*args, **kwargs)

    async def reveal(self, *args, **kwargs):
        self._note("reveal")
        return await super().reveal(*args, **kwargs)

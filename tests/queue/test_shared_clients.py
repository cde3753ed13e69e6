"""A worker's runs share its two Prefect clients instead of opening one per task run."""

from __future__ import annotations

import asyncio

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client

from dalrn_cli.worker import shared_prefect_clients


@task(cache_policy=NO_CACHE, persist_result=False)
def sync_client_of_a_task():
    return get_client(sync_client=True)


@flow(persist_result=False)
async def two_tasks() -> list:
    return [sync_client_of_a_task(), sync_client_of_a_task(), get_client()]


def test_every_task_run_of_every_flow_run_uses_the_workers_clients(prefect_harness):
    async def in_a_worker():
        async with shared_prefect_clients():
            sync, async_ = get_client(sync_client=True), get_client()
            runs = await asyncio.gather(asyncio.create_task(two_tasks()), asyncio.create_task(two_tasks()))
        return sync, async_, runs

    sync, async_, runs = asyncio.run(in_a_worker())
    assert [r[:2] for r in runs] == [[sync, sync]] * 2
    assert [r[2] for r in runs] == [async_] * 2


def test_without_them_each_task_run_opens_its_own(prefect_harness):
    """The cost the worker avoids (checked so the test above cannot pass by accident)."""

    async def alone():
        return await two_tasks()

    first, second, _ = asyncio.run(alone())
    assert first is not second

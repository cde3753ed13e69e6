"""`dalrn worker`: a long-lived dispute worker over the Redis Stream the gateway fills.

One process loads MiniLM, the precedent index, the embedded chain's contract and the
dispute flow once, then runs each accepted dispute as its own flow run in this process:
the very run the gateway created (named by the dispute, tagged by tenant, in the Prefect
UI as before), never a new subprocess. The flow is async and its stages are sync tasks, so
the disputes this process holds share one event loop: while one computes, the others wait
on Prefect's API or on their tenant's reveal without holding a core.

Bounds: at most `--concurrency` disputes are in this process's hands at once, those paused
for their tenant's reveal included, and a pause lasts at most `--max-tenant-wait` seconds
(the run then fails as Prefect's pause timeout says), so a tenant that never answers holds
a slot for that long and no longer.

Durability: an entry is acknowledged only once its run has ended. This process keeps its
entries and their run leases fresh every third of `--claim-timeout`; when it dies they go
stale, and another worker claims them (XAUTOCLAIM) and starts their runs over, as the same
flow run (forced back to Pending with a message saying so).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import socket
import sys
import time
from typing import Any
from uuid import UUID

from dalrn_core.errors import InputError
from dalrn_core.queue import TAKEOVER_MESSAGE, DisputeQueue, Entry, queue_url

log = logging.getLogger("dalrn.worker")
STATS = "dalrn:stats"  # hash: disputes, per-stage seconds (from each run's receipts' clock)
# A dispute paused for its tenant's reveal holds a place and no CPU, and spends seconds
# there (the tenant polls, decrypts, reveals); with 4 places two workers topped out near
# 0.5 disputes/s with both cores half idle (Little's law: places / seconds in hand). With 16,
# two workers carried encrypted disputes at 1.08/s with P95 22.8 s (benchmarks/results at
# b848513): a burst filled the places, disputes waited in the stream, and every dispute in
# hand longer costs the shared polls more. 32 is what `make bench` measures now (README).
DEFAULT_CONCURRENCY = 32
WORKERS = "dalrn:workers"  # hash: consumer -> its pid, CPU seconds and disputes so far


def default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def warm_up(say=print, shared_cache: Any = None) -> dict[str, float]:
    """Load what every dispute needs once: the model, the index, the chain's contract, the flow.

    With `shared_cache` (a Redis client) the embeddings of public evidence are shared by
    every worker (`RedisEmbeddingCache`) instead of kept in this machine's data folder.
    """
    seconds: dict[str, float] = {}
    mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        seconds[name] = round(now - mark, 3)
        mark = now

    import torch

    import flows.dispute_resolution  # noqa: F401 - Prefect, the tasks and their imports

    # One thread of MiniLM per worker: workers scale by processes, and two processes each
    # asking for every core only take turns on them.
    torch.set_num_threads(1)
    lap("imports")
    from dalrn_core.search.embed import Embedder

    embedder = Embedder.load()
    if shared_cache is not None:
        from dalrn_core.search.shared_cache import RedisEmbeddingCache

        embedder.cache = RedisEmbeddingCache(shared_cache, model=embedder.tag)
    embedder.encode(["warm up"])
    lap("model")
    from dalrn_core.search.index import PrecedentIndex
    from dalrn_core.search.precedents import latest_index_cid

    try:
        PrecedentIndex.open(latest_index_cid())
    except InputError as exc:  # no index yet: disputes with a search fail until one is built
        say(f"worker: no precedent index to load yet ({exc})")
    lap("index")
    from blocks.chain import anchor_client

    anchor_client()
    lap("chain")
    return seconds


async def ensure_deployment() -> None:
    """The `dispute-resolution` deployment the gateway starts runs of (created if missing)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from flows.dispute_resolution import dispute_resolution

    async with get_client() as client:
        try:
            await client.read_deployment_by_name("dispute-resolution/dispute-resolution")
            return
        except ObjectNotFound:
            pass
    deployment = await dispute_resolution.ato_deployment(name="dispute-resolution")
    await deployment.aapply()


@contextlib.asynccontextmanager
async def shared_prefect_clients():
    """One sync and one async Prefect client for every run this process starts inside.

    Without them Prefect's engine opens a client per task run (a sync task in an async flow
    finds no sync client to reuse), and each costs a TLS context, about 25 ms of CPU even
    for an http:// API, and a new connection: a third of a worker's CPU under load. The runs
    inherit both through the context their asyncio tasks copy at creation.
    """
    from prefect.context import AsyncClientContext, SyncClientContext

    with SyncClientContext.get_or_create():
        async with AsyncClientContext.get_or_create():
            yield


class DisputeWorker:
    """Reads the stream, runs each dispute's flow run here, acknowledges it once it ended."""

    def __init__(self, queue: DisputeQueue, consumer: str, *, concurrency: int = DEFAULT_CONCURRENCY,
                 claim_timeout_s: float = 60.0, max_tenant_wait_s: int = 900, say=print) -> None:
        if concurrency < 1:
            raise InputError.one("concurrency", "must be at least 1")
        if claim_timeout_s < 3:
            raise InputError.one("claim_timeout", "must be at least 3 seconds")
        if max_tenant_wait_s < 1:
            raise InputError.one("max_tenant_wait", "must be at least 1 second")
        self.queue, self.consumer, self.concurrency = queue, consumer, concurrency
        self.claim_timeout_ms = int(claim_timeout_s * 1000)
        self.max_tenant_wait_s = max_tenant_wait_s
        self.say = say
        self.held: dict[str, str] = {}  # entry id -> flow run id, while in this process's hands
        self.done = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        """Take entries until stopped; then let the runs in hand finish (or be claimed later)."""
        await asyncio.to_thread(self.queue.ensure_group)
        await asyncio.to_thread(self._report)  # ready: seen by `dalrn load` and the stack's start
        keeper = asyncio.create_task(self._keep_alive())
        running: set[asyncio.Task[None]] = set()
        try:
            while not self._stop.is_set():
                free = self.concurrency - len(running)
                if free <= 0:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED, timeout=1.0)
                    continue
                entries = await asyncio.to_thread(self.queue.claim_stale, self.consumer, self.claim_timeout_ms, free)
                for entry in entries:
                    self.say(f"worker {self.consumer}: claimed {entry.name}, left pending by a worker that stopped")
                if not entries:
                    entries = await asyncio.to_thread(self.queue.read, self.consumer, free, 1000)
                for entry in entries:
                    task = asyncio.create_task(self._handle(entry))
                    running.add(task)
                    task.add_done_callback(running.discard)
        finally:
            if running:  # SIGTERM: finish what is in hand (bounded by the caller's timeout)
                await asyncio.wait(running, timeout=60)
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep_alive(self) -> None:
        """Every third of the claim timeout: our entries are not stale, our leases live on."""
        while True:
            await asyncio.sleep(self.claim_timeout_ms / 3000)
            held = dict(self.held)
            try:
                await asyncio.to_thread(self.queue.keep, self.consumer, list(held))
                for run_id in held.values():
                    await asyncio.to_thread(self.queue.renew, run_id, self.consumer, self.claim_timeout_ms)
                await asyncio.to_thread(self._report)
            except OSError:
                log.warning("could not refresh this worker's entries in Redis", exc_info=True)

    def _report(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        self.queue.client.hset(WORKERS, self.consumer, json.dumps(
            {"pid": os.getpid(), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3), "disputes": self.done,
             "held": len(self.held), "at": time.time()}))

    async def _handle(self, entry: Entry) -> None:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        try:
            run_id = UUID(entry.flow_run_id)
        except ValueError:
            log.error("stream entry %s names no flow run (%r): dropped", entry.entry_id, entry.flow_run_id)
            await asyncio.to_thread(self.queue.ack, entry.entry_id)
            return
        async with get_client() as client:
            try:
                run = await client.read_flow_run(run_id)
            except ObjectNotFound:
                log.error("flow run %s of entry %s does not exist: dropped", run_id, entry.entry_id)
                await asyncio.to_thread(self.queue.ack, entry.entry_id)
                return
        state = run.state
        if state is not None and state.is_final() and not state.is_crashed():
            await asyncio.to_thread(self.queue.ack, entry.entry_id)  # a duplicate of a run that ended
            return
        if not await asyncio.to_thread(self.queue.lease, str(run_id), self.consumer, self.claim_timeout_ms):
            # A live worker runs it from its own entry: this one is a duplicate.
            await asyncio.to_thread(self.queue.ack, entry.entry_id)
            return
        self.held[entry.entry_id] = str(run_id)
        try:
            await self._run(run)
        except BaseException as exc:
            # Stopped, or Prefect unreachable, before the run ended: the entry stays pending and
            # is claimed again (by any worker, this one included) after the claim timeout.
            self.held.pop(entry.entry_id, None)
            self.queue.release(str(run_id), self.consumer)
            if not isinstance(exc, Exception):
                raise
            log.exception("run %s of entry %s did not end here; left pending", run_id, entry.entry_id)
            self.say(f"worker {self.consumer}: {run.name} did not end here ({type(exc).__name__}: {exc}); "
                     "left pending for another try")
            return
        self.held.pop(entry.entry_id, None)
        await asyncio.to_thread(self.queue.ack, entry.entry_id)
        await asyncio.to_thread(self.queue.release, str(run_id), self.consumer)

    async def _run(self, run: Any) -> None:
        from prefect.client.orchestration import get_client
        from prefect.flow_engine import run_flow_async
        from prefect.states import Crashed, Pending

        from flows.dispute_resolution import dispute_resolution

        state = run.state
        if state is not None and not (state.is_pending() or state.is_scheduled()):
            # Its worker died mid-run: start it over as the same flow run.
            self.say(f"worker {self.consumer}: taking over {run.name} ({state.name} under a worker that stopped)")
            message = f"{TAKEOVER_MESSAGE} {self.consumer}: the worker that held it stopped"
            async with get_client() as client:
                if not state.is_crashed():  # through Crashed, so that Prefect forgets its earlier pause
                    await client.set_flow_run_state(run.id, Crashed(message=message), force=True)
                answer = await client.set_flow_run_state(run.id, Pending(name="Requeued", message=message))
                if answer.status.value != "ACCEPT":
                    await client.set_flow_run_state(run.id, Pending(name="Requeued", message=message), force=True)
                run = await client.read_flow_run(run.id)
        parameters = dict(run.parameters)
        wait = int(parameters.get("tenant_wait_seconds") or 900)
        parameters["tenant_wait_seconds"] = min(wait, self.max_tenant_wait_s)
        final = await run_flow_async(dispute_resolution, flow_run=run, parameters=parameters, return_type="state")
        self.done += 1
        await asyncio.to_thread(self._record, final)
        await asyncio.to_thread(self._report)

    def _record(self, final: Any) -> None:
        """Per-stage seconds of a completed dispute, summed in Redis for `dalrn load`."""
        if not final.is_completed():
            self.queue.client.hincrby(STATS, "not_completed", 1)
            return
        try:
            result = final.result(raise_on_failure=False)
        except Exception:  # noqa: BLE001 - no persisted result to read: counted, not timed
            result = None
        stages = (result or {}).get("stage_seconds") if isinstance(result, dict) else None
        with self.queue.client.pipeline(transaction=False) as pipe:
            pipe.hincrby(STATS, "disputes", 1)
            for stage, seconds in (stages or {}).items():
                pipe.hincrbyfloat(STATS, f"stage_s:{stage}", float(seconds))
            pipe.execute()


def cmd_worker(args: argparse.Namespace) -> int:
    url = args.redis or queue_url()
    if not url:
        raise InputError.one("redis", "give --redis redis://HOST:PORT/0 or set DALRN_QUEUE_URL")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise InputError.one("redis", "must be a redis://, rediss:// or unix:// URL")
    if not os.environ.get("PREFECT_API_URL"):
        raise InputError.one("PREFECT_API_URL", "must name the Prefect server's API the gateway uses "
                                                "(with PREFECT_API_AUTH_STRING when it is closed)")
    say = (lambda message: print(message, file=sys.stderr, flush=True))
    consumer = args.consumer or default_consumer()
    queue = DisputeQueue(url)
    worker = DisputeWorker(queue, consumer, concurrency=args.concurrency, claim_timeout_s=args.claim_timeout,
                           max_tenant_wait_s=args.max_tenant_wait, say=say)
    seconds = warm_up(say, shared_cache=queue.client)
    if args.metrics_port:
        from dalrn_core.observability import serve_metrics

        # The catalogue's server: every process's files in multiprocess mode, and the backlog
        # gauges (queue depth, anchors pending) read afresh at each scrape.
        serve_metrics(args.metrics_port, host=args.metrics_host)
    say(f"worker {consumer}: loaded once in {sum(seconds.values()):.1f} s "
        + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        await ensure_deployment()
        say(f"worker {consumer}: taking disputes from {queue.stream} ({args.concurrency} at a time)")
        from dalrn_cli.suspension_watch import watching_suspensions

        with watching_suspensions():
            async with shared_prefect_clients():
                await worker.run()

    profile = None
    if args.profile:  # where a dispute's time goes: the work, or Prefect's and our own plumbing
        import cProfile

        profile = cProfile.Profile(time.thread_time)  # CPU of the thread running the disputes
        profile.enable()
    try:
        asyncio.run(main())
    finally:
        queue.close()
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)
    say(f"worker {consumer}: stopped after {worker.done} disputes")
    return 0


def register(sub: Any) -> None:
    worker = sub.add_parser("worker", help="a long-lived dispute worker: runs queued disputes in this process")
    worker.add_argument("--redis", help="the queue's Redis URL (default: DALRN_QUEUE_URL)")
    worker.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY,
                        help="disputes in hand at once, those awaiting their tenant included "
                             f"(default {DEFAULT_CONCURRENCY})")
    worker.add_argument("--consumer", help="this worker's name in the consumer group (default: host-pid)")
    worker.add_argument("--claim-timeout", type=float, default=60.0,
                        help="seconds after which a stopped worker's disputes are claimed by another (default 60)")
    worker.add_argument("--max-tenant-wait", type=int, default=900,
                        help="seconds a run waits at most for its tenant's reveal (default 900)")
    worker.add_argument("--metrics-port", type=int, help="serve this worker's Prometheus metrics on HOST:PORT")
    # In a container Prometheus scrapes from the private network, so the address is a choice there.
    worker.add_argument("--metrics-host", default="127.0.0.1", help="address of the metrics server (default 127.0.0.1)")
    worker.add_argument("--profile", metavar="FILE", help="write a cProfile (CPU of the thread running the disputes) to FILE "
                                                          "when the worker stops (pstats format)")
    worker.set_defaults(func=cmd_worker)

"""`/healthz` (the process answers) and `/readyz` (everything a request needs answers).

Readiness checks each dependency with its own time limit and reports it with its status
and latency, so an operator sees which one is down. The database and Prefect's API are
required: either down makes the answer 503 so a load balancer stops sending traffic. The
chain, the content store and the dispute queue (Redis) sit behind circuit breakers and the
service works around them (anchors wait for the next batch, runs start on retry): one of
them down answers 200 with status `degraded`. Each breaker's state is in the answer.
Errors name only the exception type: a public probe must not leak hosts, paths or
credentials.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from web3.exceptions import Web3Exception

from dalrn_core.observability.breakers import CHAIN, REDIS, guarded, states

log = logging.getLogger("dalrn.gateway")

CHECK_TIMEOUT_S = 3.0
PROBE = b"dalrn readiness probe\n"

router = APIRouter(tags=["health"])

Check = Callable[[Request], Awaitable[None]]


async def check_prefect(request: Request) -> None:
    """An authenticated call, so a wrong auth string shows as down, not only a dead server."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        await client.api_version()


_chain_client = None


def _chain_ping() -> None:
    global _chain_client
    from blocks.chain import anchor_client

    if _chain_client is None:  # the embedded chain replays its journal on open: once per process
        _chain_client = anchor_client(None)
    failures = []
    for one in getattr(_chain_client, "clients", None) or [_chain_client]:  # a fallback chain counts
        try:
            guarded(CHAIN, one.w3.eth.get_block_number)
            return
        except (OSError, Web3Exception) as exc:  # unreachable or refusing: try the next chain
            failures.append(exc)
    raise failures[-1]


def warm_up() -> None:
    """Open the chain and store clients once (the app's startup calls it), so probes stay fast."""
    _chain_ping()
    _store_ping()


async def check_chain(request: Request) -> None:
    await asyncio.to_thread(_chain_ping)


def _store_ping() -> None:
    from blocks.evidence_store import content_store

    store = content_store(None)
    cid = store.put(PROBE)  # same bytes, same CID: the probe never grows the store (IPFS: via its breaker)
    if store.get(cid) != PROBE:
        raise RuntimeError("content store returned other bytes")


async def check_store(request: Request) -> None:
    await asyncio.to_thread(_store_ping)


async def check_database(request: Request) -> None:
    """The identity database answers a trivial query (the gateway's own engine)."""
    from sqlalchemy import text

    engine = request.app.state.engine

    def ping() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    await asyncio.to_thread(ping)


def _queue_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=CHECK_TIMEOUT_S, socket_connect_timeout=CHECK_TIMEOUT_S)
    try:
        guarded(REDIS, client.ping)
    finally:
        client.close()


async def check_queue(request: Request) -> None:
    """The dispute queue's Redis answers (only checked where `DALRN_QUEUE_URL` is set)."""
    from dalrn_core.queue import queue_url

    url = queue_url()
    if url:
        await asyncio.to_thread(_queue_ping, url)


CHECKS: dict[str, Check] = {
    "database": check_database,
    "prefect": check_prefect,
    "chain": check_chain,
    "content_store": check_store,
}
# Dependencies the service degrades around (breakers) rather than stops for.
DEGRADABLE = frozenset({"chain", "content_store", "queue"})


def default_checks() -> dict[str, Check]:
    from dalrn_core.queue import queue_url

    return {**CHECKS, "queue": check_queue} if queue_url() else CHECKS


async def _run(name: str, check: Check, request: Request) -> dict:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(request), CHECK_TIMEOUT_S)
        outcome = {"status": "ok"}
    except TimeoutError:
        outcome = {"status": "down", "error": f"no answer within {CHECK_TIMEOUT_S:g} s"}
    except Exception as exc:  # noqa: BLE001 - any failure of a dependency means "down"
        outcome = {"status": "down", "error": type(exc).__name__}
    return {"name": name, **outcome, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Database, Prefect API, chain, content store (and queue) each answer",
            responses={503: {"description": "the database or Prefect's API is down"}})
async def readyz(request: Request) -> JSONResponse:
    checks = getattr(request.app.state, "readiness_checks", None) or default_checks()
    results = await asyncio.gather(*(_run(name, check, request) for name, check in checks.items()))
    down = {r["name"] for r in results if r["status"] != "ok"}
    status = "ready" if not down else "degraded" if down <= DEGRADABLE else "not_ready"
    body = {"status": status, "checks": {r.pop("name"): r for r in results},
            "circuit_breakers": {name: {"state": state} for name, state in states().items()}}
    return JSONResponse(body, status_code=503 if status == "not_ready" else 200)


def export_secret_dates(request: Request) -> None:
    """When the keys in use were made and the watched certificates expire, for rotation alerts."""
    from cryptography import x509
    from sqlalchemy import select

    from dalrn_core.observability.metrics import CERTIFICATE_EXPIRY, KEY_CREATED
    from gateway.db.models import ReceiptKey, SigningKey
    from gateway.identity import aware

    with request.app.state.sessions() as session:
        jwt = session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))
                              .order_by(SigningKey.created_at.desc())).first()
        receipt = session.scalars(select(ReceiptKey).where(ReceiptKey.retired_at.is_(None),
                                                           ReceiptKey.revoked_at.is_(None))
                                  .order_by(ReceiptKey.first_seen_at.desc())).first()
    if jwt is not None:
        KEY_CREATED.labels("jwt_signing").set(aware(jwt.created_at).timestamp())
    if receipt is not None:
        KEY_CREATED.labels("receipt_signing").set(aware(receipt.first_seen_at).timestamp())
    for path in request.app.state.settings.tls_certificate_files:
        try:
            certificate = x509.load_pem_x509_certificate(Path(path).read_bytes())
        except (OSError, ValueError):
            log.warning("certificate %s unreadable: its expiry is not exported", Path(path).name)
            continue
        CERTIFICATE_EXPIRY.labels(Path(path).name).set(certificate.not_valid_after_utc.timestamp())


@router.get("/metrics", summary="Prometheus metrics of this gateway (text exposition format)",
            response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def prometheus_metrics(request: Request) -> Response:
    """Every metric of `dalrn_core.observability.metrics`, summed over processes in multiprocess mode."""
    from dalrn_core.observability.metrics import exposition

    try:
        export_secret_dates(request)
    except Exception:  # the database down must not take the metrics with it
        log.warning("key dates not refreshed", exc_info=True)
    body, content_type = exposition()
    return Response(body, media_type=content_type)

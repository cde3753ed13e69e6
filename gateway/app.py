"""`create_app(settings)`: the gateway's FastAPI application.

`uvicorn --factory gateway.app:create_app` builds it from the environment. The database is
migrated (Alembic) when the app is built, so a request never meets an old schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from gateway import errors
from gateway.admission import Admission
from gateway.db import ADMITTED, open_database
from gateway.joint import reconcile_forever
from gateway.middleware import Guard, RequestMetrics
from gateway.settings import Settings

log = logging.getLogger("dalrn.gateway")

DESCRIPTION = """The DALRN gateway: each firm reaches only its own disputes.

Get a token with `POST /v1/oauth/token` (client credentials), then send
`Authorization: Bearer TOKEN`. Every error is `{"error": {"code", "message", "field"}}`;
the codes are listed per endpoint in docs/api/README.md.
"""


def create_app(settings: Settings | None = None, runs=None, *, warm_up: bool = True) -> FastAPI:
    """The app over `settings`' database; `runs` starts dispute runs (default: Prefect's API)."""
    from dalrn_core.redact import redact_logs

    redact_logs()  # the gateway's log lines quote no secret, however it is served
    settings = settings or Settings()
    if runs is None:
        from gateway.runs import DisputeRuns

        runs = DisputeRuns.from_environment()  # queued for dispute workers with DALRN_QUEUE_URL
    engine, sessions = open_database(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if warm_up:
            task = asyncio.create_task(asyncio.to_thread(_warm_up))
        # Joint disputes past their deadline end even when no one reads them (at start-up, then periodically).
        reconciling = asyncio.create_task(reconcile_forever(sessions, runs, settings.join_reconcile_s))
        yield
        reconciling.cancel()
        if hasattr(runs, "aclose"):
            await runs.aclose()
        if warm_up and not task.done():
            task.cancel()
        engine.dispose()

    app = FastAPI(title="DALRN gateway", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings, app.state.engine, app.state.sessions, app.state.runs = settings, engine, sessions, runs
    app.state.limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage))
    errors.install(app)
    from gateway.routers import (
        admin,
        audit,
        chain_rpc,
        content,
        disputes,
        evidence,
        health,
        joins,
        ops,
        proofs,
        search,
        tokens,
        wellknown,
    )

    for router in (tokens.router, wellknown.router, disputes.router, search.router, joins.router, evidence.router, content.router,
                   ops.router, admin.router, audit.router):
        app.include_router(router)
    app.include_router(health.router)
    app.include_router(proofs.router)
    app.include_router(chain_rpc.router)  # read-only chain reads for checking a proof's anchor
    from gateway import portal

    portal.install(app)  # the parties' pages at /, over the API above
    app.add_middleware(Admission, limit=ADMITTED)  # inside the guard: a refused request never waits for a slot
    app.add_middleware(Guard, body_limit=settings.body_limit_bytes, max_depth=settings.json_max_depth,
                       path_limits={"/v1/content": settings.content_limit_bytes})
    app.add_middleware(RequestMetrics)  # outermost: refusals by the guard are counted too
    _instrument(app)
    return app


def _instrument(app: FastAPI) -> None:
    """A span per request (named by route template) under any incoming `traceparent`."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    from dalrn_core.observability.tracing import configure_tracing

    provider = configure_tracing("dalrn-gateway")
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics")


def _warm_up() -> None:
    from gateway.routers import health

    try:
        health.warm_up()
    except Exception:
        log.warning("warm-up of chain/content store failed; /readyz will say which", exc_info=True)

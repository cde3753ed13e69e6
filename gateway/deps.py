"""FastAPI dependencies: settings, a database session, the run starter, the caller.

`require(scope)` is how every endpoint declares its scope: it checks the bearer token,
re-checks that its API key is still live (revocation takes effect on the next request),
applies the per-key rate limit, and refuses a token whose role lacks the scope.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from limits import parse
from sqlalchemy.orm import Session

from dalrn_core.observability.breakers import REDIS, guarded
from gateway import audit, tokens
from gateway.db.models import ApiKey
from gateway.errors import api_error
from gateway.identity import key_is_live
from gateway.scopes import ROLES
from gateway.settings import Settings

log = logging.getLogger("dalrn.gateway")

_bearer = HTTPBearer(auto_error=False, description="access token from POST /v1/oauth/token")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="dalrn"'}


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def get_runs(request: Request):
    """The `gateway.runs.DisputeRuns` the app was built with."""
    return request.app.state.runs


DB = Annotated[Session, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Runs = Annotated[Any, Depends(get_runs)]


def request_id(request: Request) -> str:
    return getattr(request.state, "request_id", "") or ""


def rate_limit(request: Request, item: str, identity: str) -> None:
    """429 with Retry-After once `identity` has used its moving window."""
    limiter = request.app.state.limiter
    limit = parse(item)
    try:  # the limits' storage (Redis in production) behind its breaker
        if guarded(REDIS, limiter.hit, limit, "dalrn", identity):
            return
        reset_at, _remaining = guarded(REDIS, limiter.get_window_stats, limit, "dalrn", identity)
    except Exception as exc:  # noqa: BLE001 - storage down: serve unlimited rather than fail every request
        log.warning("rate-limit storage unavailable (%s): request %s not limited", type(exc).__name__,
                    request_id(request))
        return
    wait = max(1, math.ceil(reset_at - time.time()))
    raise api_error(429, "rate_limited", f"rate limit {item} reached; retry in {wait} s",
                    headers={"Retry-After": str(wait)})


@dataclass(frozen=True)
class Principal:
    key_id: str
    tenant: str
    role: str
    scopes: frozenset[str]
    request_id: str


def _unauthorized(message: str):
    return api_error(401, "auth.invalid_token", message, headers=CHALLENGE)


def current_principal(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                      db: DB, settings: AppSettings) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise api_error(401, "auth.missing_token", "a bearer token is required", headers=CHALLENGE)
    try:
        claims = tokens.verify(db, credentials.credentials, issuer=settings.issuer, audience=settings.audience,
                               ttl_s=settings.token_ttl_s)
    except tokens.TokenRefused as exc:
        raise _unauthorized(str(exc)) from None
    key = db.get(ApiKey, claims.key_id)
    if not key_is_live(key) or key.tenant != claims.tenant:
        raise _unauthorized("the token's API key is revoked or expired")
    rate_limit(request, settings.rate_limit, f"key:{claims.key_id}")
    role = claims.role if claims.role in ROLES else ""
    # The role's scopes today bound the token's: a role narrowed since issue narrows the token.
    scopes = claims.scope & ROLES.get(role, frozenset())
    return Principal(claims.key_id, claims.tenant, role, frozenset(scopes), request_id(request))


def require(scope: str):
    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if scope not in principal.scopes:
            raise api_error(403, "auth.insufficient_scope", f"this endpoint needs scope {scope}")
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


# Audited outcomes that are a new acceptance (an Idempotency-Key replay is not audited again).
_ACCEPTANCES = {("dispute.submit", "accepted"): "dispute", ("dispute.submit", "awaiting_parties"): "joint",
                ("dispute.join", "accepted"): "join"}


def record(db: Session, principal: Principal, action: str, resource: str, outcome: str) -> None:
    audit.append(db, principal=principal.key_id, tenant=principal.tenant, role=principal.role, action=action,
                 resource=resource, outcome=outcome, request_id=principal.request_id)
    if (action, outcome) in _ACCEPTANCES:
        from dalrn_core.observability.metrics import DISPUTES_ACCEPTED

        DISPUTES_ACCEPTED.labels(_ACCEPTANCES[action, outcome]).inc()

"""`POST /v1/oauth/token`: OAuth 2.0 client credentials (RFC 6749 section 4.4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel

from gateway import tokens
from gateway.deps import DB, AppSettings, rate_limit
from gateway.errors import api_error, responses
from gateway.identity import authenticate
from gateway.scopes import scopes_of

router = APIRouter(tags=["oauth"])


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    scope: str


@router.post("/v1/oauth/token", response_model=TokenAnswer, responses=responses(400, 401, 422, 429),
             summary="Exchange an API key for an access token")
def token(request: Request, grant_type: Annotated[str, Form()], client_id: Annotated[str, Form(max_length=64)],
          client_secret: Annotated[str, Form(max_length=256)], db: DB,
          settings: AppSettings) -> TokenAnswer:
    if grant_type != "client_credentials":
        raise api_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported",
                        "grant_type")
    rate_limit(request, settings.token_rate_limit, f"client:{client_id}")
    found = authenticate(db, client_id, client_secret)
    if found is None:
        raise api_error(401, "invalid_client", "unknown client, wrong secret, or a revoked or expired key",
                        "client_id", headers={"WWW-Authenticate": 'Basic realm="dalrn"'})
    key, tenant = found
    scope = sorted(scopes_of(tenant.role))
    access = tokens.issue(db, issuer=settings.issuer, audience=settings.audience, ttl_s=settings.token_ttl_s,
                          key_id=key.key_id, tenant=tenant.name, role=tenant.role, scope=scope)
    return TokenAnswer(access_token=access, expires_in=settings.token_ttl_s, scope=" ".join(scope))

"""`/.well-known/jwks.json`: the public keys that verify access tokens."""

from __future__ import annotations

from fastapi import APIRouter

from gateway import tokens
from gateway.deps import DB, AppSettings

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json", summary="Token-signing public keys (JWKS)")
def get_jwks(db: DB, settings: AppSettings) -> dict:
    tokens.active_kid(db)  # a fresh database publishes its first key before any token exists
    return tokens.jwks(db, settings.token_ttl_s)

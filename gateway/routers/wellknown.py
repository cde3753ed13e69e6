"""`/.well-known/jwks.json`: the public keys that verify access tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from gateway import tokens
from gateway.deps import get_db, get_settings
from gateway.settings import Settings

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json", summary="Token-signing public keys (JWKS)")
def get_jwks(db: Session = Depends(get_db), settings: Settings = Depends(get_settings)) -> dict:
    tokens.active_kid(db)  # a fresh database publishes its first key before any token exists
    return tokens.jwks(db, settings.token_ttl_s)

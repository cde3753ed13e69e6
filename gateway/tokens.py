"""EdDSA (Ed25519) access tokens, signing-key rotation and the JWKS document.

The private half of each signing key is a 0600 file in the keys folder (DALRN_KEYS_DIR),
never in the database or the repository; the database keeps the public half and whether
the key is retired. Verification accepts only `EdDSA`, so `alg: none` and an HS256 token
keyed with a public key are refused before any signature check; the `kid` must name a key
in the table, and `iss`, `aud`, `exp` are required.

A token carries the API key id (`sub`); every request re-checks that key is live, so a
revoked key's tokens stop working on the next request, not when they expire.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from dalrn_core.keys import created_at, load_or_create
from gateway.db.models import SigningKey
from gateway.identity import now

ALGORITHM = "EdDSA"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key_file(kid: str) -> str:
    return f"gateway-jwt-{kid}.key"


def _private(kid: str) -> Ed25519PrivateKey:
    seed = load_or_create(_key_file(kid), lambda: secrets.token_bytes(32))
    return Ed25519PrivateKey.from_private_bytes(seed)


def rotate_signing_key(session: Session) -> str:
    """A new active signing key; the previous ones stay published to verify live tokens."""
    kid = f"k{uuid.uuid4().hex[:12]}"
    public = _private(kid).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for old in session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
        old.retired_at = now()
    session.add(SigningKey(kid=kid, public_key=_b64(public), created_at=now(), retired_at=None))
    session.commit()
    return kid


def active_kid(session: Session) -> str:
    """The kid new tokens are signed with: the active key, if this instance holds its private half.

    An instance whose keys folder lacks it (another folder than the instance that made it)
    would otherwise make a new private key under the published kid and sign tokens no one can
    verify; it makes a key of its own instead, and the other stays published for its TTL.
    """
    key = session.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))
                          .order_by(SigningKey.created_at.desc())).first()
    if key is not None and created_at(_key_file(key.kid)) is not None:
        return key.kid
    return rotate_signing_key(session)


def published(session: Session, ttl_s: int) -> list[SigningKey]:
    """Keys whose tokens may still be live: the active one and those retired under one TTL ago."""
    cutoff = now() - timedelta(seconds=ttl_s)
    rows = session.scalars(select(SigningKey)).all()
    from gateway.identity import aware

    return [k for k in rows if k.retired_at is None or aware(k.retired_at) > cutoff]


def jwks(session: Session, ttl_s: int) -> dict:
    return {"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": ALGORITHM, "use": "sig", "kid": k.kid, "x": k.public_key}
                     for k in published(session, ttl_s)]}


def issue(session: Session, *, issuer: str, audience: str, ttl_s: int, key_id: str, tenant: str,
          role: str, scope: list[str]) -> str:
    kid = active_kid(session)
    issued = now()
    claims = {"iss": issuer, "aud": audience, "sub": key_id, "tenant": tenant, "role": role,
              "scope": " ".join(sorted(scope)), "kid": kid, "iat": int(issued.timestamp()),
              "exp": int((issued + timedelta(seconds=ttl_s)).timestamp()), "jti": uuid.uuid4().hex}
    return jwt.encode(claims, _private(kid), algorithm=ALGORITHM, headers={"kid": kid})


class TokenRefused(Exception):
    """Why a token was refused (said to the client in general terms)."""


@dataclass(frozen=True)
class Claims:
    key_id: str
    tenant: str
    role: str
    scope: frozenset[str]
    jti: str


def verify(session: Session, token: str, *, issuer: str, audience: str, ttl_s: int) -> Claims:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenRefused("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRefused("token algorithm not accepted")
    kid = header.get("kid")
    key = next((k for k in published(session, ttl_s) if k.kid == kid), None)
    if key is None:
        raise TokenRefused("unknown signing key")
    public = Ed25519PublicKey.from_public_bytes(_unb64(key.public_key))
    try:
        claims = jwt.decode(token, public, algorithms=[ALGORITHM], audience=audience, issuer=issuer,
                            options={"require": ["iss", "aud", "sub", "exp", "iat", "jti", "tenant", "scope"]})
    except jwt.ExpiredSignatureError:
        raise TokenRefused("token expired") from None
    except jwt.PyJWTError as exc:
        raise TokenRefused(f"token refused ({type(exc).__name__})") from None
    if claims.get("kid") != kid:
        raise TokenRefused("kid claim and header differ")
    return Claims(str(claims["sub"]), str(claims["tenant"]), str(claims.get("role", "")),
                  frozenset(str(claims["scope"]).split()), str(claims["jti"]))



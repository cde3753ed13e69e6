"""`/v1/content`: the bytes of a tenant's encrypted precedent search, by CID.

A tenant uploads what it made with its own CKKS keys (its public context and its encrypted
query) and reads back what the gateway names for its disputes (the encrypted scores of its
paused search). A CID is served only to a tenant granted it: the one that uploaded it, or
the submitter of the dispute whose search answer named it. To anyone else it does not
exist (404, never 403), so a CID never tells who holds what.

The CID is the content store's own (CIDv1, raw, sha2-256): the client can compute it
before uploading and check the answer. An upload that is a TenSEAL context holding a
secret key is refused before anything is stored: the server never keeps a tenant's
secret key, even one sent by mistake.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.cid import parse_cid
from dalrn_core.evidence.store import ContentStore
from dalrn_core.search import wire
from gateway import scopes
from gateway.db.models import ContentGrant
from gateway.deps import DB, Principal, record, require
from gateway.errors import api_error, responses
from gateway.identity import now

log = logging.getLogger("dalrn.gateway")
router = APIRouter(prefix="/v1/content", tags=["content"])
OCTETS = "application/octet-stream"
UPLOAD, SEARCH = "upload", "search"
CidPath = Annotated[str, Path(min_length=10, max_length=128, pattern="^[a-z2-7]+$",
                              description="CIDv1 (raw, sha2-256, base32)")]
_BINARY = {OCTETS: {"schema": {"type": "string", "format": "binary"}}}


class Stored(BaseModel):
    cid: str
    size: int


def _store() -> ContentStore:
    from blocks.evidence_store import content_store

    return content_store(None)


def context_problem(data: bytes, *, public: bool) -> str | None:
    """Why `data` is not acceptable as a tenant's CKKS context; None when it is.

    `public=False` only asks whether bytes that parse as a TenSEAL context hold a secret key
    (anything else passes); `public=True` asks for a usable public context.
    """
    import tenseal as ts

    if data[:4] in (wire.QUERY, wire.SCORES):  # an encrypted envelope, not a context
        return "is an encrypted envelope, not a TenSEAL context" if public else None
    try:
        context = ts.context_from(data)
    except (ValueError, RuntimeError, TypeError):  # TenSEAL's errors on bytes that are no context
        return "is not a TenSEAL CKKS context" if public else None
    if context.has_secret_key():
        return "holds a secret key: upload only the public context (the secret key stays with the tenant)"
    if public and not context.has_galois_keys():
        return "has no rotation (Galois) keys"
    return None


def grant(db: Session, cid: str, tenant: str, origin: str, size: int, dispute_row: int | None = None) -> None:
    """Let `tenant` read `cid` (idempotent: the first grant of a tenant's CID stays)."""
    seen = db.scalars(select(ContentGrant).where(ContentGrant.cid == cid, ContentGrant.tenant == tenant)).first()
    if seen is None:
        db.add(ContentGrant(cid=cid, tenant=tenant, origin=origin, dispute_row=dispute_row, size=size,
                            created_at=now()))
        db.commit()


def uploaded_by(db: Session, cid: str, tenant: str) -> bool:
    return db.scalars(select(ContentGrant.id).where(ContentGrant.cid == cid, ContentGrant.tenant == tenant,
                                                    ContentGrant.origin == UPLOAD)).first() is not None


def _not_found(cid: str):
    return api_error(404, "content.not_found", f"no content {cid}", "cid")


def _granted(db: Session, principal: Principal, cid: str) -> ContentGrant:
    try:
        parse_cid(cid)
    except InputError:
        raise _not_found(cid) from None
    found = db.scalars(select(ContentGrant).where(ContentGrant.cid == cid,
                                                  ContentGrant.tenant == principal.tenant)).first()
    if found is None:
        record(db, principal, "content.read", f"content:{cid}", "not_found")
        raise _not_found(cid)
    return found


@router.post("", status_code=201, response_model=Stored, responses=responses(401, 403, 413, 415, 422, 429),
             summary="Upload content for your own disputes (CKKS public context, encrypted query)",
             openapi_extra={"requestBody": {"required": True, "content": _BINARY}})
async def upload(request: Request, principal: Annotated[Principal, Depends(require(scopes.DISPUTES_WRITE))],
                 db: DB) -> Stored:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != OCTETS:
        raise api_error(415, "content.unsupported_media_type", f"send the bytes as {OCTETS}", "Content-Type")
    data = await request.body()
    if not data:
        raise api_error(422, "content.empty", "the body holds no bytes", "body")
    problem = await asyncio.to_thread(context_problem, data, public=False)
    if problem is not None:
        record(db, principal, "content.upload", "content:?", "secret_key_refused")
        raise api_error(422, "content.secret_key", f"body {problem}", "body")
    cid = await asyncio.to_thread(_store().put, data)
    grant(db, cid, principal.tenant, UPLOAD, len(data))
    record(db, principal, "content.upload", f"content:{cid}", "ok")
    return Stored(cid=cid, size=len(data))


@router.get("/{cid}", response_class=Response, responses={
    200: {"content": _BINARY, "description": "the bytes, checked against their CID"},
    **responses(401, 403, 404, 422, 429, 503)}, summary="Content you uploaded or that names your dispute's search")
async def download(cid: CidPath, principal: Annotated[Principal, Depends(require(scopes.DISPUTES_READ))],
                   db: DB) -> Response:
    _granted(db, principal, cid)
    try:
        data = await asyncio.to_thread(_store().get, cid)
    except IntegrityError:  # missing from the store or not matching its CID: never hand it on
        log.error("granted content %s is missing or corrupt in the content store", cid)
        record(db, principal, "content.read", f"content:{cid}", "unavailable")
        raise api_error(503, "content.unavailable", f"content {cid} cannot be read from the store now") from None
    record(db, principal, "content.read", f"content:{cid}", "ok")
    return Response(content=data, media_type=OCTETS, headers={"Cache-Control": "private, no-store"})

"""`/v1/audit`: audit entries of the granted tenants (auditor) or all (admin), and the head."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from dalrn_core.dispute.model import Identifier
from gateway import audit, scopes
from gateway.deps import DB, Principal, record, require
from gateway.errors import api_error, responses
from gateway.identity import granted_targets

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class Entry(BaseModel):
    seq: int
    at: str
    principal: str
    tenant: str
    role: str
    action: str
    resource: str
    outcome: str
    request_id: str
    prev_hash: str
    hash: str
    signature: str


class Head(BaseModel):
    seq: int
    hash: str
    public_key: str


@router.get("", response_model=list[Entry], responses=responses(401, 403, 422, 429),
            summary="Audit entries (an auditor sees its granted tenants' only)")
def list_entries(principal: Annotated[Principal, Depends(require(scopes.AUDIT_READ))], db: DB,
                 tenant: Identifier | None = None, after: Annotated[int, Query(ge=0)] = 0,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    if principal.role == "admin":
        tenants = {tenant} if tenant else None
    else:
        granted = granted_targets(db, principal.tenant)
        if tenant is not None and tenant not in granted:
            raise api_error(403, "audit.not_granted", f"you are not granted tenant {tenant}", "tenant")
        tenants = {tenant} if tenant else granted
    found = audit.entries(db, tenants, limit=limit, after=after)
    record(db, principal, "audit.read", f"audit:{tenant or '*'}", f"ok:{len(found)}")
    return found


@router.get("/head", response_model=Head, responses=responses(401, 403, 429), summary="Last entry's seq and hash")
def head(principal: Annotated[Principal, Depends(require(scopes.AUDIT_READ))], db: DB):
    seq, digest = audit.audit_head(db)
    return Head(seq=seq, hash=digest, public_key=audit.audit_public_key())

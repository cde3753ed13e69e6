"""`/v1/audit`: audit entries of the granted tenants (auditor) or all (admin), and the head."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from dalrn_core.dispute.model import Identifier
from gateway import audit, scopes
from gateway.deps import DB, Principal, require
from gateway.errors import api_error, responses
from gateway.identity import granted_targets
from gateway.routers.listing import LIST_RESPONSES, PageSize, listed

router = APIRouter(prefix="/v1/audit", tags=["audit"])
AuditReader = Annotated[Principal, Depends(require(scopes.AUDIT_READ))]


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


@router.get("", response_model=list[Entry], responses=LIST_RESPONSES,
            summary="Audit entries (an auditor sees its granted tenants' only)")
def list_entries(principal: AuditReader, db: DB, tenant: Identifier | None = None,
                 after: Annotated[int, Query(ge=0)] = 0, limit: PageSize = 100):
    if principal.role == "admin":
        tenants = {tenant} if tenant else None
    else:
        granted = granted_targets(db, principal.tenant)
        if tenant is not None and tenant not in granted:
            raise api_error(403, "audit.not_granted", f"you are not granted tenant {tenant}", "tenant")
        tenants = {tenant} if tenant else granted
    return listed(db, principal, "audit.read", f"audit:{tenant or '*'}",
                  audit.entries(db, tenants, limit=limit, after=after))


class Head(BaseModel):
    seq: int
    hash: str
    public_key: str


@router.get("/head", response_model=Head, responses=responses(401, 403, 429), summary="Last entry's seq and hash")
def head(principal: AuditReader, db: DB):
    seq, digest = audit.audit_head(db)
    return Head(seq=seq, hash=digest, public_key=audit.audit_public_key())

"""`/v1/audit`: audit entries of the granted tenants (auditor) or all (admin), and the head."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

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
                 after: Annotated[int, Query(ge=0, le=2**63 - 1, description="list entries after this seq")] = 0, limit: PageSize = 100):
    if principal.role == "admin":
        tenants = {tenant} if tenant else None
    else:
        granted = granted_targets(db, principal.tenant)
        if tenant is not None and tenant not in granted:
            raise api_error(403, "audit.not_granted", f"you are not granted tenant {tenant}", "tenant")
        tenants = {tenant} if tenant else granted
    return listed(db, principal, "audit.read", f"audit:{tenant or '*'}",
                  audit.entries(db, tenants, limit=limit, after=after))


class AnchoredHeadOut(BaseModel):
    """The head the latest receipt batch anchored, and whether the log still holds it."""

    seq: int
    hash: str
    root: str
    tx_hash: str | None
    chain_id: int | None
    block_number: int | None
    holds: bool = Field(description="the log holds this entry with this hash and its Merkle proof leads to "
                                    "the root (the root on chain: `dalrn audit verify`)")


class Head(BaseModel):
    seq: int
    hash: str
    public_key: str
    anchored: AnchoredHeadOut | None = Field(description="null until a batch has anchored a head")


@router.get("/head", response_model=Head, responses=responses(401, 403, 429),
            summary="Last entry's seq and hash, and the head the last receipt batch anchored")
def head(principal: AuditReader, db: DB):
    seq, digest = audit.audit_head(db)
    checked = audit.check_anchored_head(db)
    anchored = None
    if checked is not None:
        a = checked.anchor
        anchored = AnchoredHeadOut(seq=checked.seq, hash=checked.hash, root=a["root"], tx_hash=a.get("tx_hash"),
                                   chain_id=a.get("chain_id"), block_number=a.get("block_number"),
                                   holds=not checked.findings)
    return Head(seq=seq, hash=digest, public_key=audit.audit_public_key(), anchored=anchored)

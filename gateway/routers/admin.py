"""`/v1/admin`: tenants and keys (role admin). The same operations as `dalrn admin`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from dalrn_core.dispute.model import Identifier
from dalrn_core.errors import InputError
from gateway import identity, scopes
from gateway.db.models import ApiKey, Tenant
from gateway.deps import DB, AppSettings, Principal, record, require
from gateway.errors import api_error, responses

router = APIRouter(prefix="/v1/admin", tags=["admin"])


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Identifier
    role: Literal["party", "auditor", "operator", "admin"] = "party"
    grants: list[Identifier] = Field(default_factory=list, max_length=100)


class TenantInfo(BaseModel):
    name: str
    role: str
    created_at: datetime


class KeyIssued(BaseModel):
    tenant: str
    key_id: str
    api_key: str
    expires_at: datetime


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    overlap_hours: float = Field(24.0, ge=0, le=24 * 30)


def _or_422(call):
    try:
        return call()
    except InputError as exc:
        problem = exc.problems[0]
        status, code = (404, "key.not_found") if problem.rule.startswith("no key") else (422, "request.invalid")
        if "already exists" in problem.rule:
            status, code = 409, "tenant.exists"
        raise api_error(status, code, str(problem), problem.field) from None


@router.get("/tenants", response_model=list[TenantInfo], responses=responses(401, 403, 429), summary="All tenants")
def list_tenants(principal: Annotated[Principal, Depends(require(scopes.ADMIN))], db: DB):
    rows = db.scalars(select(Tenant).order_by(Tenant.name)).all()
    return [TenantInfo(name=t.name, role=t.role, created_at=identity.aware(t.created_at)) for t in rows]


@router.post("/tenants", status_code=201, response_model=KeyIssued, responses=responses(401, 403, 409, 422, 429),
             summary="Create a tenant and its first key (the secret is shown once)")
def create_tenant(body: TenantIn, principal: Annotated[Principal, Depends(require(scopes.ADMIN))],
                  db: DB, settings: AppSettings):
    issued = _or_422(lambda: identity.create_tenant(db, body.name, body.role, ttl_days=settings.key_ttl_days,
                                                    grants=body.grants))
    record(db, principal, "tenant.create", f"tenant:{body.name}", "ok")
    return KeyIssued(**{k: v for k, v in issued.to_json().items() if k != "expires_at"}, expires_at=issued.expires_at)


@router.post("/keys/{key_id}/rotate", status_code=201, response_model=KeyIssued,
             responses=responses(401, 403, 404, 422, 429), summary="A new key; the old one lives for the overlap")
def rotate(key_id: str, body: RotateIn, principal: Annotated[Principal, Depends(require(scopes.ADMIN))],
           db: DB, settings: AppSettings):
    issued = _or_422(lambda: identity.rotate_key(db, key_id, overlap_h=body.overlap_hours,
                                                 ttl_days=settings.key_ttl_days))
    record(db, principal, "key.rotate", f"key:{key_id}", "ok")
    return KeyIssued(tenant=issued.tenant, key_id=issued.key_id, api_key=issued.api_key, expires_at=issued.expires_at)


@router.post("/keys/{key_id}/revoke", status_code=204, responses=responses(401, 403, 404, 429),
             summary="Revoke a key (its tokens stop on the next request)")
def revoke(key_id: str, principal: Annotated[Principal, Depends(require(scopes.ADMIN))], db: DB):
    if db.get(ApiKey, key_id) is None:
        raise api_error(404, "key.not_found", f"no key {key_id}", "key_id")
    identity.revoke_key(db, key_id)
    record(db, principal, "key.revoke", f"key:{key_id}", "ok")

"""`/v1/disputes`: submit, read, memo, receipts, reveal; each tenant sees only its own.

A submission is recorded as `queued` and committed before the run starts, so an accepted
dispute is never lost; a start that fails leaves it queued, and the same Idempotency-Key
(or the same body again) starts it later. The status is refreshed from the Prefect run.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Annotated

import rfc8785
from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from dalrn_core.dispute.model import Dispute, Identifier
from dalrn_core.dispute.parse import parse_dispute
from gateway import scopes, visibility
from gateway.db.models import DisputeRow, IdempotencyRecord
from gateway.deps import DB, Principal, Runs, record, require
from gateway.errors import ApiError, api_error, responses
from gateway.identity import aware, now
from gateway.runs import RUN_SERVICE_ERRORS, RunNotFound

log = logging.getLogger("dalrn.gateway")
router = APIRouter(prefix="/v1/disputes", tags=["disputes"])
FINAL = {"anchored", "failed", "rejected"}
TenantQuery = Annotated[Identifier | None, Query(description="the submitting tenant, when several are visible")]


class DisputeIn(Dispute):
    """A dispute as in examples/: `tenant` may be left out (it is the caller's)."""

    tenant: Identifier | None = None


class Accepted(BaseModel):
    dispute_id: str
    status: str
    links: dict[str, str]


class DisputeView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dispute_id: str
    tenant: str
    status: str
    submitted_at: datetime
    updated_at: datetime
    parties: list[str]
    settlement: dict | list | str | float | None = None
    memo_cid: str | None = None
    proof_id: str | None = None
    message: str | None = None


class Receipts(BaseModel):
    dispute_id: str
    tenant: str
    status: str
    receipts: list[str]
    merkle_root: str | None = None
    tx_hash: str | None = None
    proof_id: str | None = None


class Memo(BaseModel):
    dispute_id: str
    memo_cid: str
    memo_markdown_cid: str | None = None
    memo: str


class Precedent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    precedent_id: str = Field(min_length=1, max_length=200)
    score: float = Field(allow_inf_nan=False)


class Reveal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    precedents: list[Precedent] = Field(max_length=100)


def _links(dispute_id: str) -> dict[str, str]:
    base = f"/v1/disputes/{dispute_id}"
    return {"self": base, "memo": f"{base}/memo", "receipts": f"{base}/receipts", "reveal": f"{base}/reveal"}


def _chain(row: DisputeRow) -> str:
    from gateway.runs import chain_id

    # The chain the run really writes (from its own parameters), else what a new run would write.
    return (row.result or {}).get("chain_id") or chain_id({"dispute": row.body, "tenant": row.tenant}) or row.dispute_id


def _proof_id(row: DisputeRow) -> str | None:
    if row.status != "anchored":
        return None
    from gateway.routers.proofs import proof_id_of

    return proof_id_of(_chain(row))


async def _start(db: Session, runs, row: DisputeRow, key: str) -> None:
    try:
        row.flow_run_id = await runs.start(tenant=row.tenant, dispute=row.body, idempotency_key=key)
    except RUN_SERVICE_ERRORS:
        log.exception("could not start the run of %s/%s", row.tenant, row.dispute_id)
        raise api_error(503, "runs.unavailable", "the dispute is recorded as queued but its run could not start; "
                        "retry with the same Idempotency-Key") from None
    row.updated_at = now()
    db.commit()


@router.post("", status_code=202, response_model=Accepted, responses=responses(401, 403, 409, 413, 422, 429, 503),
             summary="Submit a dispute")
async def submit(body: DisputeIn, principal: Annotated[Principal, Depends(require(scopes.DISPUTES_WRITE))],
                 db: DB, runs: Runs,
                 idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None) -> Accepted:
    data = body.model_dump(mode="json", exclude_none=True)
    if data.get("tenant", principal.tenant) != principal.tenant:
        raise api_error(403, "dispute.tenant_mismatch", "tenant must be your own tenant or left out", "tenant")
    data["tenant"] = principal.tenant
    parse_dispute(data)  # the rules beyond the schema (deadline not passed)
    digest = hashlib.sha256(rfc8785.dumps(data)).hexdigest()
    resource = f"dispute:{principal.tenant}/{body.id}"
    if idempotency_key is not None:
        seen = db.get(IdempotencyRecord, (principal.tenant, idempotency_key))
        if seen is not None:
            if seen.body_hash != digest:
                record(db, principal, "dispute.submit", resource, "idempotency.conflict")
                raise api_error(409, "idempotency.conflict", "this Idempotency-Key was used with another body",
                                "Idempotency-Key")
            row = db.get(DisputeRow, seen.dispute_row)
            if row.flow_run_id is None:
                await _start(db, runs, row, idempotency_key)
            return Accepted(dispute_id=row.dispute_id, status=row.status, links=_links(row.dispute_id))
    existing = db.scalars(select(DisputeRow).where(DisputeRow.tenant == principal.tenant,
                                                   DisputeRow.dispute_id == body.id)).first()
    if existing is not None:
        record(db, principal, "dispute.submit", resource, "dispute.exists")
        raise api_error(409, "dispute.exists", f"you already submitted a dispute {body.id}", "id")
    at = now()
    row = DisputeRow(tenant=principal.tenant, dispute_id=body.id, parties=[p.id for p in body.parties], body=data,
                     body_hash=digest, flow_run_id=None, status="queued", result=None, submitted_at=at, updated_at=at)
    db.add(row)
    db.flush()
    if idempotency_key is not None:
        db.add(IdempotencyRecord(tenant=principal.tenant, key=idempotency_key, body_hash=digest, dispute_row=row.id,
                                 created_at=at))
    db.commit()  # durable as queued before the run starts and before we answer
    record(db, principal, "dispute.submit", resource, "accepted")
    await _start(db, runs, row, idempotency_key or f"dispute-{digest}")
    return Accepted(dispute_id=row.dispute_id, status=row.status, links=_links(row.dispute_id))


async def _refresh(db: Session, runs, row: DisputeRow) -> str | None:
    """Bring the row's status up to the run's; the run's message, if any."""
    if row.flow_run_id is None or row.status in FINAL:
        return None
    try:
        view = await runs.view(row.flow_run_id)
    except (*RUN_SERVICE_ERRORS, RunNotFound):
        log.warning("could not read run %s", row.flow_run_id, exc_info=True)
        return "run status unavailable; showing the last known status"
    if view.status != row.status or view.result != row.result:
        row.status, row.result, row.updated_at = view.status, view.result, aware(view.updated_at) or now()
        db.commit()
    return view.message if view.status == "failed" else None


def _view(row: DisputeRow, message: str | None) -> DisputeView:
    result = row.result or {}
    return DisputeView(dispute_id=row.dispute_id, tenant=row.tenant, status=row.status,
                       submitted_at=aware(row.submitted_at), updated_at=aware(row.updated_at), parties=row.parties,
                       settlement=result.get("settlement"), memo_cid=result.get("memo_cid"), proof_id=_proof_id(row),
                       message=message)


@router.get("", response_model=list[DisputeView], responses=responses(401, 403, 429),
            summary="Your tenant's disputes and those naming it as a party")
async def list_disputes(principal: Annotated[Principal, Depends(require(scopes.DISPUTES_READ))],
                        db: DB) -> list[DisputeView]:
    rows = visibility.listed(db, principal)
    record(db, principal, "dispute.list", f"tenant:{principal.tenant}", f"ok:{len(rows)}")
    return [_view(r, None) for r in rows]


@router.get("/{dispute_id}", response_model=DisputeView, responses=responses(401, 403, 404, 422, 429),
            summary="A dispute's status (and settlement, once settled)")
async def get_dispute(dispute_id: Identifier, principal: Annotated[Principal, Depends(require(scopes.DISPUTES_READ))],
                      db: DB, runs: Runs, tenant: TenantQuery = None) -> DisputeView:
    try:
        row = visibility.find(db, principal, dispute_id, tenant)
    except ApiError:  # a look for someone else's id is worth an entry too
        record(db, principal, "dispute.read", f"dispute:?/{dispute_id}", "not_found")
        raise
    message = await _refresh(db, runs, row)
    record(db, principal, "dispute.read", f"dispute:{row.tenant}/{row.dispute_id}", "ok")
    return _view(row, message)


@router.get("/{dispute_id}/memo", response_model=Memo, responses=responses(401, 403, 404, 409, 422, 429),
            summary="The settlement memo (Markdown) of a settled dispute")
async def get_memo(dispute_id: Identifier, principal: Annotated[Principal, Depends(require(scopes.DISPUTES_READ))],
                   db: DB, runs: Runs, tenant: TenantQuery = None) -> Memo:
    row = visibility.find(db, principal, dispute_id, tenant)
    await _refresh(db, runs, row)
    result = row.result or {}
    cid = result.get("memo_markdown_cid") or result.get("memo_cid")
    resource = f"dispute:{row.tenant}/{row.dispute_id}/memo"
    if row.status not in ("resolved", "anchored") or not cid:
        record(db, principal, "memo.read", resource, "not_settled")
        raise api_error(409, "dispute.not_settled", f"dispute {dispute_id} has no memo yet (status {row.status})")
    from blocks.evidence_store import content_store

    text = content_store(None).get(cid).decode("utf-8", errors="replace")
    record(db, principal, "memo.read", resource, "ok")
    return Memo(dispute_id=row.dispute_id, memo_cid=result.get("memo_cid") or cid,
                memo_markdown_cid=result.get("memo_markdown_cid"), memo=text)


@router.get("/{dispute_id}/receipts", response_model=Receipts, responses=responses(401, 403, 404, 422, 429),
            summary="The receipt chain, Merkle root and anchoring transaction")
async def get_receipts(dispute_id: Identifier, principal: Annotated[Principal, Depends(require(scopes.RECEIPTS_READ))],
                       db: DB, runs: Runs, tenant: TenantQuery = None) -> Receipts:
    row = visibility.find(db, principal, dispute_id, tenant, receipts=True)
    await _refresh(db, runs, row)
    result = row.result or {}
    record(db, principal, "receipts.read", f"dispute:{row.tenant}/{row.dispute_id}/receipts", "ok")
    return Receipts(dispute_id=row.dispute_id, tenant=row.tenant, status=row.status,
                    receipts=list(result.get("receipts") or []), merkle_root=result.get("merkle_root"),
                    tx_hash=result.get("tx_hash"), proof_id=_proof_id(row))


@router.post("/{dispute_id}/reveal", status_code=202, response_model=DisputeView,
             responses=responses(401, 403, 404, 409, 413, 422, 429), summary="Answer a paused encrypted search")
async def reveal(dispute_id: Identifier, body: Reveal,
                 principal: Annotated[Principal, Depends(require(scopes.REVEAL_WRITE))],
                 db: DB, runs: Runs, tenant: TenantQuery = None) -> DisputeView:
    from gateway.runs import RunNotFound, RunNotPaused

    row = visibility.find(db, principal, dispute_id, tenant)
    resource = f"dispute:{row.tenant}/{row.dispute_id}/reveal"
    if row.tenant != principal.tenant:  # only the submitting tenant holds the query's secret key
        record(db, principal, "reveal.write", resource, "not_found")
        raise visibility.not_found(dispute_id)
    if row.flow_run_id is None:
        raise api_error(409, "dispute.not_awaiting_tenant", f"dispute {dispute_id} is not waiting for a reveal")
    try:
        await runs.reveal(row.flow_run_id, [p.model_dump() for p in body.precedents])
    except (RunNotPaused, RunNotFound) as exc:
        record(db, principal, "reveal.write", resource, "not_awaiting_tenant")
        raise api_error(409, "dispute.not_awaiting_tenant", str(exc)) from None
    record(db, principal, "reveal.write", resource, "ok")
    message = await _refresh(db, runs, row)
    return _view(row, message)

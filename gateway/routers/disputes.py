"""`/v1/disputes`: submit, read, memo, receipts, search, reveal; each tenant sees only its own.

A submission is recorded as `queued` and committed before the run starts, so an accepted
dispute is never lost; a start that fails leaves it queued, and the same Idempotency-Key
(or the same body again) starts it later. The status is refreshed from the Prefect run.

A submission may carry the tenant's encrypted precedent search (`precedent_search`): the
CIDs of its CKKS public context and encrypted query, uploaded with `POST /v1/content`. The
run scores the query without reading it and pauses (`awaiting_tenant`); the tenant reads
the encrypted scores (`GET .../search`), decrypts them with its own secret key and answers
with the precedents it chose (`POST .../reveal`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import datetime
from typing import Annotated

import rfc8785
from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from sqlalchemy import select
from sqlalchemy.orm import Session

from dalrn_core.dispute.model import Dispute, Identifier
from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.observability.tracing import current_trace_id, tracer
from gateway import joint, precedent_search, scopes, visibility
from gateway.admission import stepped_out
from gateway.db import release_connection
from gateway.db.models import DisputeRow, IdempotencyRecord
from gateway.deps import DB, Principal, Runs, record, require
from gateway.errors import ApiError, api_error, responses
from gateway.identity import aware, now
from gateway.precedent_search import PrecedentSearchIn
from gateway.routers import evidence
from gateway.runs import RUN_SERVICE_ERRORS, DisputeStatus, RunNotFound
from gateway.status import REJECTED, rejection_of

log = logging.getLogger("dalrn.gateway")
router = APIRouter(prefix="/v1/disputes", tags=["disputes"])
FINAL = {"anchored", "failed", "rejected"}
TenantQuery = Annotated[Identifier | None, Query(description="the submitting tenant, when several are visible")]
# A long poll: answer once the status is no longer `changed_from`, or after `wait_s` seconds.
MAX_WAIT_S, LOOK_EVERY_S = 30.0, 1.0
ChangedFrom = Annotated[DisputeStatus | None, Query(
    description="with wait_s: answer as soon as the dispute's status differs from this one")]
WaitSeconds = Annotated[float, Query(ge=0.0, le=MAX_WAIT_S, description=(
    "with changed_from: wait up to this many seconds for the status to change (a long poll); "
    "the answer is the dispute as it stands then, changed or not"))]


class DisputeIn(Dispute):
    """A dispute as in examples/: `tenant` may be left out (it is the caller's)."""

    tenant: Identifier | None = None
    precedent_search: PrecedentSearchIn | None = None


def _shape(body: object) -> str:
    """A joint filing's opening carries the opener's `side`; a whole dispute carries none."""
    has_side = "side" in body if isinstance(body, dict) else hasattr(body, "side")
    return "joint opening" if has_side else "whole dispute"


Submission = Annotated[Annotated[DisputeIn, Tag("whole dispute")] | Annotated[joint.OpeningIn, Tag("joint opening")],
                       Discriminator(_shape)]


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
    # Server clock (ISO 8601), null until reached: so anyone can time a dispute from outside.
    resolved_at: datetime | None = Field(default=None, description="when its run ended with a settlement")
    anchored_at: datetime | None = Field(default=None, description="when it became anchored: its run ended "
                                         "and its root was recorded on chain (the later of the two)")
    deadline: datetime | None = None
    settlement: dict | list | str | float | None = None
    memo_cid: str | None = None
    proof_id: str | None = None
    message: str | None = None
    trace_id: str | None = Field(default=None, description="the OpenTelemetry trace (W3C trace id, 32 hex) that "
                                 "follows this dispute from the request that started its run into each of its stages")


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


def _links(dispute_id: str) -> dict[str, str]:
    base = f"/v1/disputes/{dispute_id}"
    return {"self": base, "memo": f"{base}/memo", "receipts": f"{base}/receipts", "search": f"{base}/search",
            "reveal": f"{base}/reveal"}


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
    extra = {"precedent_search": row.precedent_search} if row.precedent_search else {}
    release_connection(db)
    try:
        with tracer().start_as_current_span("dispute.start", attributes={"dalrn.tenant": row.tenant}):
            row.flow_run_id = await runs.start(tenant=row.tenant, dispute=row.body, idempotency_key=key, **extra)
            row.trace_id = current_trace_id()
    except RUN_SERVICE_ERRORS:
        log.exception("could not start the run of %s/%s", row.tenant, row.dispute_id)
        raise api_error(503, "runs.unavailable", "the dispute is recorded as queued but its run could not start; "
                        "retry with the same Idempotency-Key") from None
    row.updated_at = now()
    db.commit()


@router.post("", status_code=202, response_model=Accepted, responses=responses(401, 403, 409, 413, 422, 429, 503),
             summary="Submit a dispute (optionally with your encrypted precedent search)")
async def submit(body: Submission, principal: Annotated[Principal, Depends(require(scopes.DISPUTES_WRITE))],
                 db: DB, runs: Runs,
                 idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None) -> Accepted:
    if body.tenant not in (None, principal.tenant):
        raise api_error(403, "dispute.tenant_mismatch", "tenant must be your own tenant or left out", "tenant")
    if isinstance(body, joint.OpeningIn):
        return await _open_joint(body, principal, db, idempotency_key)
    data = body.model_dump(mode="json", exclude_none=True, exclude={"precedent_search"})
    data["tenant"] = principal.tenant
    parsed = parse_dispute(data)  # the rules beyond the schema (deadline not passed)
    joint.refuse_whole_joint(parsed)
    await asyncio.to_thread(evidence.check_confidential, db, principal, parsed)
    search = None
    if body.precedent_search is not None:
        search = await asyncio.to_thread(precedent_search.checked_search, db, principal, body.precedent_search)
    # Without a search the digest is the dispute's own, as for every dispute submitted before searches.
    digest = hashlib.sha256(rfc8785.dumps(data if search is None else {"dispute": data, "precedent_search": search})
                            ).hexdigest()
    resource = f"dispute:{principal.tenant}/{body.id}"
    replayed = _replayed(db, principal, resource, idempotency_key, digest)
    if replayed is not None:
        if replayed.flow_run_id is None:
            await _start(db, runs, replayed, idempotency_key)
        return Accepted(dispute_id=replayed.dispute_id, status=replayed.status, links=_links(replayed.dispute_id))
    _refuse_existing(db, principal, resource, body.id)
    at = now()
    row = DisputeRow(tenant=principal.tenant, dispute_id=body.id, parties=joint.party_tenants(body), body=data,
                     body_hash=digest, flow_run_id=None, status="queued", result=None, submitted_at=at, updated_at=at,
                     precedent_search=search)
    db.add(row)
    db.flush()
    if idempotency_key is not None:
        db.add(IdempotencyRecord(tenant=principal.tenant, key=idempotency_key, body_hash=digest, dispute_row=row.id,
                                 created_at=at))
    db.commit()  # durable as queued before the run starts and before we answer
    record(db, principal, "dispute.submit", resource, "accepted")
    if search is not None:
        precedent_search.register_key(principal.tenant, search["key_id"])
    await _start(db, runs, row, idempotency_key or f"dispute-{digest}")
    return Accepted(dispute_id=row.dispute_id, status=row.status, links=_links(row.dispute_id))


def _replayed(db: Session, principal: Principal, resource: str, idempotency_key: str | None,
              digest: str) -> DisputeRow | None:
    """The dispute an earlier request with this Idempotency-Key made; 409 if its body differed."""
    if idempotency_key is None:
        return None
    seen = db.get(IdempotencyRecord, (principal.tenant, idempotency_key))
    if seen is None:
        return None
    if seen.body_hash != digest:
        record(db, principal, "dispute.submit", resource, "idempotency.conflict")
        raise api_error(409, "idempotency.conflict", "this Idempotency-Key was used with another body",
                        "Idempotency-Key")
    return db.get(DisputeRow, seen.dispute_row)


def _refuse_existing(db: Session, principal: Principal, resource: str, dispute_id: str) -> None:
    """409 when this tenant already submitted a dispute with this id (ids are per tenant)."""
    existing = db.scalars(select(DisputeRow).where(DisputeRow.tenant == principal.tenant,
                                                   DisputeRow.dispute_id == dispute_id)).first()
    if existing is not None:
        record(db, principal, "dispute.submit", resource, "dispute.exists")
        raise api_error(409, "dispute.exists", f"you already submitted a dispute {dispute_id}", "id")


async def _open_joint(body: joint.OpeningIn, principal: Principal, db: Session,
                      idempotency_key: str | None) -> Accepted:
    """Record a joint filing's opening as `awaiting_parties` with the opener's side; no run yet."""
    data, side = joint.opening(body, principal.tenant)
    await asyncio.to_thread(evidence.check_confidential_items, db, principal, side.evidence, dispute_id=body.id,
                            owner=lambda party: principal.tenant, prefix="side.evidence")
    search = None
    if body.precedent_search is not None:  # the same checks as a whole dispute's search
        search = await asyncio.to_thread(precedent_search.checked_search, db, principal, body.precedent_search)
    filed = {"opening": data, "side": side.model_dump(mode="json")}
    digest = joint.digest(filed if search is None else {**filed, "precedent_search": search})
    resource = f"dispute:{principal.tenant}/{body.id}"
    links = {**_links(body.id), "join": f"/v1/disputes/{body.id}/join"}
    replayed = _replayed(db, principal, resource, idempotency_key, digest)
    if replayed is not None:
        return Accepted(dispute_id=replayed.dispute_id, status=replayed.status, links=links)
    _refuse_existing(db, principal, resource, body.id)
    at = now()
    row = DisputeRow(tenant=principal.tenant, dispute_id=body.id, parties=joint.party_tenants(body), body=data,
                     body_hash=digest, flow_run_id=None, status=joint.AWAITING_PARTIES, result=None, submitted_at=at,
                     updated_at=at, precedent_search=search)
    db.add(row)
    db.flush()
    db.add(joint.new_side_row(row, side, principal.tenant))
    if idempotency_key is not None:
        db.add(IdempotencyRecord(tenant=principal.tenant, key=idempotency_key, body_hash=digest, dispute_row=row.id,
                                 created_at=at))
    db.commit()
    record(db, principal, "dispute.submit", resource, "awaiting_parties")
    if search is not None:
        precedent_search.register_key(principal.tenant, search["key_id"])
    return Accepted(dispute_id=row.dispute_id, status=row.status, links=links)


async def _refresh(db: Session, runs, row: DisputeRow) -> str | None:
    """Bring the row's status up to the run's; the run's message, if any."""
    if row.status == joint.AWAITING_PARTIES:
        try:
            await joint.lapse_if_due(db, runs, row)  # a party missed the deadline: the dispute ends
        except ApiError:
            return "the deadline has passed; the run that ends this dispute could not start yet"
    if row.flow_run_id is None or row.status in FINAL:
        return None
    release_connection(db)
    try:
        view = await runs.view(row.flow_run_id)
    except (*RUN_SERVICE_ERRORS, RunNotFound):
        log.warning("could not read run %s", row.flow_run_id, exc_info=True)
        return "run status unavailable; showing the last known status"
    if view.status != row.status or view.result != row.result:
        row.status, row.result, row.updated_at = view.status, view.result, aware(view.updated_at) or now()
        db.commit()
    if view.status == REJECTED:
        rejection = rejection_of("FAILED", view.message)
        return rejection.message if rejection else view.message
    return view.message if view.status == "failed" else None


def _view(row: DisputeRow, message: str | None) -> DisputeView:
    result = row.result or {}
    return DisputeView(dispute_id=row.dispute_id, tenant=row.tenant, status=row.status,
                       submitted_at=aware(row.submitted_at), updated_at=aware(row.updated_at), parties=row.parties,
                       resolved_at=result.get("resolved_at") if row.status in ("resolved", "anchored") else None,
                       anchored_at=result.get("anchored_at") if row.status == "anchored" else None,
                       deadline=(row.body or {}).get("deadline"), settlement=result.get("settlement"), memo_cid=result.get("memo_cid"), proof_id=_proof_id(row),
                       message=message, trace_id=row.trace_id)


@router.get("", response_model=list[DisputeView], responses=responses(401, 403, 429),
            summary="Your tenant's disputes and those naming it as a party")
async def list_disputes(principal: Annotated[Principal, Depends(require(scopes.DISPUTES_READ))],
                        db: DB) -> list[DisputeView]:
    rows = visibility.listed(db, principal)
    record(db, principal, "dispute.list", f"tenant:{principal.tenant}", f"ok:{len(rows)}")
    return [_view(r, None) for r in rows]


async def _until_changed(request: Request, db: Session, runs, row: DisputeRow, changed_from: str,
                         wait_s: float, message: str | None) -> str | None:
    """Look again at each tick while the status is still `changed_from`, for up to `wait_s`.

    Every waiting request looks on the same wall-clock ticks, so their reads of Prefect
    share one batched read a tick; between looks a request holds neither a database
    connection nor a place inside the door.
    """
    deadline = time.monotonic() + wait_s
    while row.status == changed_from and row.status not in FINAL:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        release_connection(db)
        async with stepped_out(request.scope):
            await asyncio.sleep(min(LOOK_EVERY_S - time.time() % LOOK_EVERY_S, left))
        if row.flow_run_id is None:
            db.expire(row)  # no run to read: the row itself changes (a party joins)
        message = await _refresh(db, runs, row)
    return message


@router.get("/{dispute_id}", response_model=DisputeView, responses=responses(401, 403, 404, 422, 429),
            summary="A dispute's status (and settlement, once settled)")
async def get_dispute(dispute_id: Identifier, principal: Annotated[Principal, Depends(require(scopes.DISPUTES_READ))],
                      db: DB, runs: Runs, request: Request, tenant: TenantQuery = None,
                      changed_from: ChangedFrom = None, wait_s: WaitSeconds = 0.0) -> DisputeView:
    try:
        row = visibility.find(db, principal, dispute_id, tenant)
    except ApiError:  # a look for someone else's id is worth an entry too
        record(db, principal, "dispute.read", f"dispute:?/{dispute_id}", "not_found")
        raise
    message = await _refresh(db, runs, row)
    if changed_from is not None and wait_s > 0:
        message = await _until_changed(request, db, runs, row, changed_from, wait_s, message)
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

    if joint.is_joint(db, row) and result.get("memo_cid"):  # each party reads its own values, no one else's
        text = await asyncio.to_thread(joint.memo_view, db, row, principal.tenant, result["memo_cid"])
    else:
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


@router.get("/{dispute_id}/receipts/{cid}", response_class=Response,
            responses={200: {"content": {"application/json": {"schema": {"type": "object"}}},
                             "description": "the receipt as stored: its RFC 8785 bytes, which its CID addresses"},
                       **responses(401, 403, 404, 422, 429, 503)},
            summary="One receipt of the dispute's chain, by CID (to check its signature yourself)")
async def get_receipt(dispute_id: Identifier, cid: Annotated[str, Path(min_length=10, max_length=128,
                                                                       pattern="^[a-z2-7]+$")],
                      principal: Annotated[Principal, Depends(require(scopes.RECEIPTS_READ))],
                      db: DB, runs: Runs, tenant: TenantQuery = None) -> Response:
    row = visibility.find(db, principal, dispute_id, tenant, receipts=True)
    await _refresh(db, runs, row)
    resource = f"dispute:{row.tenant}/{row.dispute_id}/receipts/{cid}"
    if cid not in ((row.result or {}).get("receipts") or []):
        record(db, principal, "receipt.read", resource, "not_found")
        raise api_error(404, "receipt.not_found", f"dispute {dispute_id} has no receipt {cid}", "cid")
    from blocks.evidence_store import content_store
    from dalrn_core.errors import IntegrityError

    try:
        data = await asyncio.to_thread(content_store(None).get, cid)
    except IntegrityError:  # missing or not matching its CID: never hand it on
        log.error("receipt %s of %s is missing or corrupt in the content store", cid, resource)
        raise api_error(503, "receipt.unavailable", f"receipt {cid} cannot be read from the store now") from None
    record(db, principal, "receipt.read", resource, "ok")
    return Response(content=data, media_type="application/json", headers={"Cache-Control": "private, no-store"})

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
from datetime import datetime
from typing import Annotated

import rfc8785
from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag
from sqlalchemy import select
from sqlalchemy.orm import Session

from dalrn_core.dispute.model import Dispute, Identifier
from dalrn_core.dispute.parse import parse_dispute
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.cid import parse_cid
from dalrn_core.search import wire
from dalrn_core.search.ckks_keys import key_id_of
from gateway import joint, scopes, visibility
from gateway.db.models import DisputeRow, IdempotencyRecord
from gateway.deps import DB, Principal, Runs, record, require
from gateway.errors import ApiError, api_error, responses
from gateway.identity import aware, now
from gateway.routers import content, evidence
from gateway.runs import RUN_SERVICE_ERRORS, RunNotFound, RunNotPaused
from gateway.status import REJECTED, rejection_of

log = logging.getLogger("dalrn.gateway")
router = APIRouter(prefix="/v1/disputes", tags=["disputes"])
FINAL = {"anchored", "failed", "rejected"}
TenantQuery = Annotated[Identifier | None, Query(description="the submitting tenant, when several are visible")]


class PrecedentSearchIn(BaseModel):
    """The tenant's encrypted precedent search, made with its own keys (`dalrn tenant prepare`)."""

    model_config = ConfigDict(extra="forbid")
    context_cid: str = Field(min_length=10, max_length=128,
                             description="CID of your CKKS public context (no secret key), from POST /v1/content")
    query_cid: str = Field(min_length=10, max_length=128,
                           description="CID of your encrypted query under that context, from POST /v1/content")
    k: int = Field(default=5, ge=1, le=50, description="how many precedents you will reveal")
    key_id: str | None = Field(default=None, pattern="^[0-9a-f]{64}$",
                               description="sha256 of the public context; checked when given")


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


class SearchView(BaseModel):
    """A paused run's encrypted search: what the tenant decrypts and ranks on its side."""

    model_config = ConfigDict(extra="forbid")
    dispute_id: str
    status: str
    key_id: str = Field(description="the CKKS key the scores are under (sha256 of the public context)")
    k: int = Field(description="how many precedents the run takes from the reveal")
    index_cid: str = Field(description="the precedent index scored (its CID is its version)")
    documents: int
    score_cids: list[str] = Field(description="encrypted score envelopes in index order (GET /v1/content/{cid})")
    precedent_ids: list[str] = Field(description="the index's precedent ids, in the order of the scores")


def _links(dispute_id: str) -> dict[str, str]:
    base = f"/v1/disputes/{dispute_id}"
    return {"self": base, "memo": f"{base}/memo", "receipts": f"{base}/receipts", "search": f"{base}/search",
            "reveal": f"{base}/reveal"}


def _search_error(code: str, message: str, field: str) -> ApiError:
    return api_error(422, f"precedent_search.{code}", f"precedent_search.{field}: {message}",
                     f"precedent_search.{field}")


def _checked_search(db: Session, principal: Principal, search: PrecedentSearchIn) -> tuple[dict, bytes]:
    """The run's `precedent_search` parameter and the public context it names, after every check.

    Both CIDs must be content this tenant uploaded; the context must be a public CKKS
    context, the query must be encrypted under it, and its key must not be retired.
    """
    from dalrn_core.search.rotation import KeyRegistry

    for field in ("context_cid", "query_cid"):
        cid = getattr(search, field)
        try:
            parse_cid(cid, field=f"precedent_search.{field}")
        except InputError:
            raise _search_error("invalid_cid", "is not a CIDv1 (raw, sha2-256)", field) from None
        if not content.uploaded_by(db, cid, principal.tenant):
            raise _search_error("unknown_content", f"{cid} is not content you uploaded (POST /v1/content)", field)
    store = content._store()
    try:
        public, query = store.get(search.context_cid), store.get(search.query_cid)
    except IntegrityError:  # granted at upload, gone or corrupt since: the server's fault, not the tenant's
        log.error("uploaded content of %s is missing or corrupt in the content store", principal.tenant)
        raise api_error(503, "content.unavailable", "the uploaded content cannot be read from the store now") \
            from None
    problem = content.context_problem(public, public=True)
    if problem is not None:
        raise _search_error("invalid_context", problem, "context_cid")
    key_id = key_id_of(public)
    if search.key_id is not None and search.key_id != key_id:
        raise _search_error("key_mismatch", f"is not the public context's key {key_id}", "key_id")
    try:
        query_key, _dim, _body = wire.unpack(wire.QUERY, query, field="precedent_search.query_cid")
    except InputError as exc:
        raise _search_error("invalid_query", exc.problems[0].rule, "query_cid") from None
    if query_key != key_id:
        raise _search_error("key_mismatch", f"the query is under key {query_key[:16]}, the context is {key_id[:16]}",
                            "query_cid")
    known = KeyRegistry().records.get(key_id)
    if known is not None and (known.tenant != principal.tenant or not known.active(now())):
        raise _search_error("key_retired", "this key is retired or expired: encrypt under your current key",
                            "context_cid")
    parameter = {"tenant": principal.tenant, "key_id": key_id, "context_cid": search.context_cid,
                 "query_cid": search.query_cid, "k": search.k}
    return parameter, public


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
    try:
        row.flow_run_id = await runs.start(tenant=row.tenant, dispute=row.body, idempotency_key=key, **extra)
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
    search, public_context = None, b""
    if body.precedent_search is not None:
        search, public_context = await asyncio.to_thread(_checked_search, db, principal, body.precedent_search)
    # Without a search the digest is the dispute's own, as for every dispute submitted before searches.
    digest = hashlib.sha256(rfc8785.dumps(data if search is None else {"dispute": data, "precedent_search": search})
                            ).hexdigest()
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
        _register_key(principal.tenant, public_context)
    await _start(db, runs, row, idempotency_key or f"dispute-{digest}")
    return Accepted(dispute_id=row.dispute_id, status=row.status, links=_links(row.dispute_id))


async def _open_joint(body: joint.OpeningIn, principal: Principal, db: Session,
                      idempotency_key: str | None) -> Accepted:
    """Record a joint filing's opening as `awaiting_parties` with the opener's side; no run yet."""
    data, side = joint.opening(body, principal.tenant)
    await asyncio.to_thread(evidence.check_confidential_items, db, principal, side.evidence, dispute_id=body.id,
                            owner=lambda party: principal.tenant, prefix="side.evidence")
    digest = joint.digest({"opening": data, "side": side.model_dump(mode="json")})
    resource = f"dispute:{principal.tenant}/{body.id}"
    links = {**_links(body.id), "join": f"/v1/disputes/{body.id}/join"}
    if idempotency_key is not None:
        seen = db.get(IdempotencyRecord, (principal.tenant, idempotency_key))
        if seen is not None:
            if seen.body_hash != digest:
                record(db, principal, "dispute.submit", resource, "idempotency.conflict")
                raise api_error(409, "idempotency.conflict", "this Idempotency-Key was used with another body",
                                "Idempotency-Key")
            row = db.get(DisputeRow, seen.dispute_row)
            return Accepted(dispute_id=row.dispute_id, status=row.status, links=links)
    existing = db.scalars(select(DisputeRow).where(DisputeRow.tenant == principal.tenant,
                                                   DisputeRow.dispute_id == body.id)).first()
    if existing is not None:
        record(db, principal, "dispute.submit", resource, "dispute.exists")
        raise api_error(409, "dispute.exists", f"you already submitted a dispute {body.id}", "id")
    at = now()
    row = DisputeRow(tenant=principal.tenant, dispute_id=body.id, parties=joint.party_tenants(body), body=data,
                     body_hash=digest, flow_run_id=None, status=joint.AWAITING_PARTIES, result=None, submitted_at=at,
                     updated_at=at)
    db.add(row)
    db.flush()
    db.add(joint.new_side_row(row, side, principal.tenant))
    if idempotency_key is not None:
        db.add(IdempotencyRecord(tenant=principal.tenant, key=idempotency_key, body_hash=digest, dispute_row=row.id,
                                 created_at=at))
    db.commit()
    record(db, principal, "dispute.submit", resource, "awaiting_parties")
    return Accepted(dispute_id=row.dispute_id, status=row.status, links=links)


def _register_key(tenant: str, public_context: bytes) -> None:
    """Make the tenant's key the current one the run accepts (this retires its earlier keys)."""
    from dalrn_core.search.rotation import KeyRegistry

    KeyRegistry().register(tenant, public_context)


async def _refresh(db: Session, runs, row: DisputeRow) -> str | None:
    """Bring the row's status up to the run's; the run's message, if any."""
    if row.status == joint.AWAITING_PARTIES:
        try:
            await joint.lapse_if_due(db, runs, row)  # a party missed the deadline: the dispute ends
        except ApiError:
            return "the deadline has passed; the run that ends this dispute could not start yet"
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
    if view.status == REJECTED:
        rejection = rejection_of("FAILED", view.message)
        return rejection.message if rejection else view.message
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


def _own(db: Session, principal: Principal, dispute_id: str, tenant: str | None, action: str) -> DisputeRow:
    """The caller's own dispute: only the submitting tenant holds the search's secret key."""
    row = visibility.find(db, principal, dispute_id, tenant)
    if row.tenant != principal.tenant:
        record(db, principal, action, f"dispute:{row.tenant}/{row.dispute_id}", "not_found")
        raise visibility.not_found(dispute_id)
    return row


async def _paused_search(db: Session, principal: Principal, runs, row: DisputeRow, action: str):
    """The run's paused search, or 409 (no search asked, or the run is not waiting for the tenant)."""
    resource = f"dispute:{row.tenant}/{row.dispute_id}"
    if not row.precedent_search:
        record(db, principal, action, resource, "no_precedent_search")
        raise api_error(409, "dispute.no_precedent_search",
                        f"dispute {row.dispute_id} was submitted without a precedent_search")
    if row.flow_run_id is None:
        record(db, principal, action, resource, "not_awaiting_tenant")
        raise api_error(409, "dispute.not_awaiting_tenant", f"dispute {row.dispute_id} has not started yet")
    try:
        return await runs.search(row.flow_run_id)
    except (RunNotPaused, RunNotFound) as exc:
        record(db, principal, action, resource, "not_awaiting_tenant")
        raise api_error(409, "dispute.not_awaiting_tenant", str(exc)) from None
    except RUN_SERVICE_ERRORS:
        log.exception("could not read the search of run %s", row.flow_run_id)
        raise api_error(503, "runs.unavailable", "the run cannot be read now; retry") from None


@router.get("/{dispute_id}/search", response_model=SearchView, responses=responses(401, 403, 404, 409, 422, 429, 503),
            summary="The encrypted scores a paused run waits for you to decrypt")
async def get_search(dispute_id: Identifier, principal: Annotated[Principal, Depends(require(scopes.DISPUTES_READ))],
                     db: DB, runs: Runs, tenant: TenantQuery = None) -> SearchView:
    row = _own(db, principal, dispute_id, tenant, "search.read")
    await _refresh(db, runs, row)
    paused = await _paused_search(db, principal, runs, row, "search.read")
    for cid in paused.score_cids:  # the submitter may now fetch these ciphertexts
        content.grant(db, cid, row.tenant, content.SEARCH, 0, dispute_row=row.id)
    record(db, principal, "search.read", f"dispute:{row.tenant}/{row.dispute_id}/search", "ok")
    return SearchView(dispute_id=row.dispute_id, status=row.status, key_id=paused.key_id, k=paused.k,
                      index_cid=paused.index_cid, documents=len(paused.precedent_ids), score_cids=paused.score_cids,
                      precedent_ids=paused.precedent_ids)


def _reveal_refusal(precedents: list[Precedent], paused) -> ApiError | None:
    """422 `reveal.invalid` naming each rule the reveal breaks for this search (the flow's own rules)."""
    from dalrn_core.search.index import PrecedentIndex
    from dalrn_core.search.precedents import RevealedPrecedent, check_revealed

    try:
        check_revealed([RevealedPrecedent(**p.model_dump()) for p in precedents],
                       PrecedentIndex.open(paused.index_cid), k=paused.k)
    except InputError as exc:
        return api_error(422, "reveal.invalid", "; ".join(str(p) for p in exc.problems), exc.problems[0].field)
    return None


@router.post("/{dispute_id}/reveal", status_code=202, response_model=DisputeView,
             responses=responses(401, 403, 404, 409, 413, 422, 429, 503), summary="Answer a paused encrypted search")
async def reveal(dispute_id: Identifier, body: Reveal,
                 principal: Annotated[Principal, Depends(require(scopes.REVEAL_WRITE))],
                 db: DB, runs: Runs, tenant: TenantQuery = None) -> DisputeView:
    row = _own(db, principal, dispute_id, tenant, "reveal.write")
    resource = f"dispute:{row.tenant}/{row.dispute_id}/reveal"
    paused = await _paused_search(db, principal, runs, row, "reveal.write")
    refusal = await asyncio.to_thread(_reveal_refusal, body.precedents, paused)
    if refusal is not None:
        record(db, principal, "reveal.write", resource, "invalid")
        raise refusal
    try:
        await runs.reveal(row.flow_run_id, [p.model_dump() for p in body.precedents])
    except (RunNotPaused, RunNotFound) as exc:
        record(db, principal, "reveal.write", resource, "not_awaiting_tenant")
        raise api_error(409, "dispute.not_awaiting_tenant", str(exc)) from None
    except RUN_SERVICE_ERRORS:
        log.exception("could not resume run %s", row.flow_run_id)
        raise api_error(503, "runs.unavailable", "the run cannot be resumed now; retry") from None
    record(db, principal, "reveal.write", resource, "ok")
    message = await _refresh(db, runs, row)
    return _view(row, message)

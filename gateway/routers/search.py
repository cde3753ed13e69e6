"""`/v1/disputes/{id}/search` and `/reveal`: the tenant's side of a paused encrypted search.

Only the submitting tenant holds the secret key the scores are under, so only it reads
the search and answers it; to anyone else the dispute does not exist here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from dalrn_core.dispute.model import Identifier
from dalrn_core.errors import InputError
from gateway import scopes, visibility
from gateway.db import release_connection
from gateway.db.models import DisputeRow
from gateway.deps import DB, Principal, Runs, record, require
from gateway.errors import ApiError, api_error, responses
from gateway.routers import content
from gateway.routers.disputes import DisputeView, TenantQuery, _refresh, _view
from gateway.runs import RUN_SERVICE_ERRORS, RunNotFound, RunNotPaused

log = logging.getLogger("dalrn.gateway")
router = APIRouter(prefix="/v1/disputes", tags=["disputes"])


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
    release_connection(db)
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
    release_connection(db)
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

"""`/v1/disputes/{dispute_id}/join`: a party's tenant files its own side of a joint dispute.

`GET` shows what is being joined (the shared structure, who has joined, by commitment, and
the deadline); `POST` files the caller's side. Only the tenant a party names may file that
party's side; to anyone the dispute does not name, it does not exist (404). The same side
again gives the same answer; another side for a party that joined is refused (409). The
dispute id is the opener's: pass `?tenant=<opener>` when several visible disputes share it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from dalrn_core.dispute.model import Identifier
from dalrn_core.dispute.sides import PartySide
from gateway import joint, scopes, visibility
from gateway.db.models import DisputeRow
from gateway.deps import DB, Principal, Runs, record, require
from gateway.errors import ApiError, responses
from gateway.identity import now
from gateway.routers import evidence
from gateway.routers.disputes import TenantQuery
from gateway.routers.disputes import _refresh as refresh

router = APIRouter(prefix="/v1/disputes", tags=["disputes"])


class JoinedSide(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party: str
    commitment: str
    joined_at: datetime


class JoinView(BaseModel):
    """What a party joins: the shared structure and the sides filed so far, by commitment."""

    model_config = ConfigDict(extra="forbid")
    dispute_id: str
    tenant: str
    status: str
    deadline: datetime
    dispute: dict
    joined: list[JoinedSide]
    waiting_for: list[str]


class Joined(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dispute_id: str
    tenant: str
    party: str
    commitment: str
    status: str
    waiting_for: list[str]
    links: dict[str, str]


def _find(db, principal: Principal, dispute_id: str, tenant: str | None, action: str) -> DisputeRow:
    try:
        row = visibility.find(db, principal, dispute_id, tenant)
    except ApiError:
        record(db, principal, action, f"dispute:?/{dispute_id}", "not_found")
        raise
    if not joint.is_joint(db, row):  # a one-sided filing has nothing to join: as if there were no such route
        record(db, principal, action, f"dispute:{row.tenant}/{row.dispute_id}", "not_joint")
        raise visibility.not_found(dispute_id)
    return row


def _view(db, row: DisputeRow) -> JoinView:
    sides = joint.sides_of(db, row)
    return JoinView(dispute_id=row.dispute_id, tenant=row.tenant, status=row.status, deadline=joint.deadline_of(row),
                    dispute=row.body, joined=[JoinedSide(party=p, commitment=r.commitment,
                                                         joined_at=joint.joined_at(r))
                                              for p, r in sorted(sides.items())],
                    waiting_for=joint.waiting_for(db, row))


@router.get("/{dispute_id}/join", response_model=JoinView, responses=responses(401, 403, 404, 422, 429),
            summary="What a joint dispute's parties join: the shared structure and the sides filed")
async def get_join(dispute_id: Identifier, principal: Annotated[Principal, Depends(require(scopes.DISPUTES_READ))],
                   db: DB, runs: Runs, tenant: TenantQuery = None) -> JoinView:
    row = _find(db, principal, dispute_id, tenant, "join.read")
    await refresh(db, runs, row)
    record(db, principal, "join.read", f"dispute:{row.tenant}/{row.dispute_id}/join", "ok")
    return _view(db, row)


@router.post("/{dispute_id}/join", status_code=202, response_model=Joined,
             responses=responses(401, 403, 404, 409, 413, 422, 429, 503),
             summary="File your own side of a joint dispute (its run starts when every party has)")
async def join(dispute_id: Identifier, body: PartySide,
               principal: Annotated[Principal, Depends(require(scopes.DISPUTES_WRITE))],
               db: DB, runs: Runs, tenant: TenantQuery = None) -> Joined:
    row = _find(db, principal, dispute_id, tenant, "dispute.join")
    resource = f"dispute:{row.tenant}/{row.dispute_id}/join/{body.party}"
    await joint.lapse_if_due(db, runs, row)
    problem, repeated = joint.join_problem(db, row, body, principal.tenant)
    if problem is not None:
        record(db, principal, "dispute.join", resource, problem.code)
        raise problem
    if not repeated:
        await asyncio.to_thread(evidence.check_confidential_items, db, principal, body.evidence,
                                dispute_id=row.dispute_id, owner=lambda party: principal.tenant, prefix="evidence")
        db.add(joint.new_side_row(row, body, principal.tenant))
        complete = not joint.waiting_for(db, row)
        if complete:
            row.status = "queued"
        row.updated_at = now()
        db.commit()  # durable before the run starts and before we answer
        record(db, principal, "dispute.join", resource, "accepted")
    if row.status == "queued" and row.flow_run_id is None:  # the last side (or a retry after a failed start)
        await joint.start(db, runs, row)
    return Joined(dispute_id=row.dispute_id, tenant=row.tenant, party=body.party, commitment=body.commitment,
                  status=row.status, waiting_for=joint.waiting_for(db, row),
                  links={"dispute": f"/v1/disputes/{row.dispute_id}", "join": f"/v1/disputes/{row.dispute_id}/join"})

"""`/v1/ops/runs`: run metadata for operators (ids, states, timings), no dispute content."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlalchemy import select

from gateway import scopes
from gateway.db.models import DisputeRow
from gateway.deps import DB, Principal, require
from gateway.identity import aware
from gateway.routers.listing import LIST_RESPONSES, PageSize, listed

router = APIRouter(prefix="/v1/ops", tags=["operations"])
Operator = Annotated[Principal, Depends(require(scopes.OPS_READ))]


class RunInfo(BaseModel):
    run: int
    flow_run_id: str | None
    status: str
    submitted_at: datetime
    updated_at: datetime


@router.get("/runs", response_model=list[RunInfo], responses=LIST_RESPONSES,
            summary="Dispute runs: states and timings, no content")
def list_runs(principal: Operator, db: DB, limit: PageSize = 100) -> list[RunInfo]:
    rows = db.scalars(select(DisputeRow).order_by(DisputeRow.id.desc()).limit(limit)).all()
    return listed(db, principal, "ops.runs", "runs", [
        RunInfo(run=r.id, flow_run_id=r.flow_run_id, status=r.status, submitted_at=aware(r.submitted_at),
                updated_at=aware(r.updated_at)) for r in rows])

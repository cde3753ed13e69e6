"""`/v1/ops/runs`: run metadata for operators (ids, states, timings), no dispute content."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select

from gateway import scopes
from gateway.db.models import DisputeRow
from gateway.deps import DB, Principal, record, require
from gateway.errors import responses
from gateway.identity import aware

router = APIRouter(prefix="/v1/ops", tags=["operations"])


class RunInfo(BaseModel):
    run: int
    flow_run_id: str | None
    status: str
    submitted_at: datetime
    updated_at: datetime


@router.get("/runs", response_model=list[RunInfo], responses=responses(401, 403, 422, 429),
            summary="Dispute runs: states and timings, no content")
def list_runs(principal: Annotated[Principal, Depends(require(scopes.OPS_READ))], db: DB,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[RunInfo]:
    rows = db.scalars(select(DisputeRow).order_by(DisputeRow.id.desc()).limit(limit)).all()
    record(db, principal, "ops.runs", "runs", f"ok:{len(rows)}")
    return [RunInfo(run=r.id, flow_run_id=r.flow_run_id, status=r.status, submitted_at=aware(r.submitted_at),
                    updated_at=aware(r.updated_at)) for r in rows]

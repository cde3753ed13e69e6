"""Which disputes a caller may see: its own, those naming it as a party, and (for an
auditor, receipts only) those of the tenants it is granted. Anything else does not exist
for the caller: 404 `dispute.not_found`, never 403, so ids don't leak."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.db.models import DisputeRow
from gateway.deps import Principal
from gateway.errors import api_error
from gateway.identity import granted_targets


def can_read_content(row: DisputeRow, principal: Principal) -> bool:
    return principal.role == "party" and (row.tenant == principal.tenant or principal.tenant in row.parties)


def can_read_receipts(db: Session, row: DisputeRow, principal: Principal) -> bool:
    if principal.role == "auditor":
        return row.tenant in granted_targets(db, principal.tenant)
    return can_read_content(row, principal)


def not_found(dispute_id: str):
    return api_error(404, "dispute.not_found", f"no dispute {dispute_id}", "dispute_id")


def find(db: Session, principal: Principal, dispute_id: str, tenant: str | None, *, receipts: bool = False) -> DisputeRow:
    """The caller's dispute `dispute_id` (its own first; `tenant` picks another submitter's)."""
    query = select(DisputeRow).where(DisputeRow.dispute_id == dispute_id)
    if tenant is not None:
        query = query.where(DisputeRow.tenant == tenant)
    allowed = (lambda r: can_read_receipts(db, r, principal)) if receipts else (lambda r: can_read_content(r, principal))
    rows = [r for r in db.scalars(query.order_by(DisputeRow.id)) if allowed(r)]
    if not rows:
        raise not_found(dispute_id)
    own = [r for r in rows if r.tenant == principal.tenant]
    return (own or rows)[0]


def listed(db: Session, principal: Principal) -> list[DisputeRow]:
    rows = db.scalars(select(DisputeRow).order_by(DisputeRow.submitted_at, DisputeRow.id)).all()
    return [r for r in rows if can_read_content(r, principal)]

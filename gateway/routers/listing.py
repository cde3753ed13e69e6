"""What the gateway's list endpoints share: the page size, the errors a listing answers, and
how a listing is audited (its size in the outcome)."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import Query
from sqlalchemy.orm import Session

from gateway.deps import Principal, record
from gateway.errors import responses

T = TypeVar("T")

# One bound for every listing, so no request can ask the database for an unbounded page.
PageSize = Annotated[int, Query(ge=1, le=1000)]
LIST_RESPONSES = responses(401, 403, 422, 429)


def listed(db: Session, principal: Principal, action: str, resource: str, items: list[T]) -> list[T]:
    """Audit the listing as `ok:<how many>` and hand its items back."""
    record(db, principal, action, resource, f"ok:{len(items)}")
    return items

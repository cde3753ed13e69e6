"""Joint disputes in the gateway: each party files its own side, the run starts when all have.

A filing is joint when a party names a tenant other than the submitter's. The opener's
`POST /v1/disputes` then carries the shared structure and its own side; the dispute is
recorded as `awaiting_parties` and no run starts. Each other party's tenant joins with its
side (`POST /v1/disputes/{id}/join`). Every side is checked against its commitment and kept
sealed in `party_sides` (AES-GCM, bound to the tenant, dispute and party: `dalrn_core.sealing`).
When the last party joins, the sealed sides go to the content store and the run starts with
their CIDs: no BATNA or payoff is ever a run parameter.

A deadline that passes before every party joined ends the dispute: `reconcile` (at start-up,
on a period, and on every read of such a dispute) starts the run with `absent_parties`, and
the run records `no_agreement` saying which party did not join. A start that failed (Prefect
unreachable) is retried by the same pass, with the same Prefect idempotency key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import datetime
from typing import Any

import rfc8785
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dalrn_core.dispute.model import Dispute, Identifier
from dalrn_core.dispute.sides import (
    JointOpening,
    PartySide,
    SharedDispute,
    assemble,
    check_joint_opening,
    check_side,
    parse_shared,
)
from dalrn_core.errors import InputError
from dalrn_core.observability.tracing import current_trace_id, tracer
from dalrn_core.sealing import seal_side, unseal_side
from gateway.db import release_connection
from gateway.db.models import DisputeRow, PartySideRow
from gateway.errors import ApiError, api_error
from gateway.identity import aware, now
from gateway.precedent_search import PrecedentSearchIn
from gateway.runs import RUN_SERVICE_ERRORS

log = logging.getLogger("dalrn.gateway")
AWAITING_PARTIES = "awaiting_parties"


class OpeningIn(JointOpening):
    """A joint filing's opening: the shared structure and your own side; `tenant` may be left out."""

    tenant: Identifier | None = None
    side: PartySide = Field(description="your own party's side (dalrn split writes it; dalrn submit salts it)")
    precedent_search: PrecedentSearchIn | None = Field(
        default=None, description="your encrypted precedent search (dalrn tenant prepare); only the opener files "
        "one: the run pauses for your reveal once every party has joined")


def digest(value: Any) -> str:
    return hashlib.sha256(rfc8785.dumps(value)).hexdigest()


def side_refusal(exc: InputError) -> ApiError:
    """422 for a side that does not fit; a commitment that does not hold has its own code."""
    first = exc.problems[0]
    code = "side.commitment_mismatch" if first.field.endswith("commitment") else "request.invalid"
    return api_error(422, code, "; ".join(str(p) for p in exc.problems), first.field)


def shared_of(row: DisputeRow) -> SharedDispute:
    return parse_shared(row.body)


def sides_of(db: Session, row: DisputeRow) -> dict[str, PartySideRow]:
    rows = db.scalars(select(PartySideRow).where(PartySideRow.dispute_row == row.id)).all()
    return {r.party: r for r in rows}


def is_joint(db: Session, row: DisputeRow) -> bool:
    return db.scalar(select(PartySideRow.id).where(PartySideRow.dispute_row == row.id).limit(1)) is not None


def waiting_for(db: Session, row: DisputeRow) -> list[str]:
    have = sides_of(db, row)
    return [p for p in shared_of(row).party_ids if p not in have]


def deadline_of(row: DisputeRow) -> datetime:
    return shared_of(row).deadline


def past_deadline(row: DisputeRow, at: datetime | None = None) -> bool:
    return (at or now()) >= deadline_of(row)


def party_tenants(dispute: Any) -> list[str]:
    """Who the dispute names (the row's `parties`, which decide who may read it): each party's
    tenant, or its id where it names none (a one-sided filing, as before tenants were named)."""
    return [p.tenant or p.id for p in dispute.parties]


def refuse_whole_joint(dispute: Dispute) -> None:
    """A whole dispute naming another tenant would have the submitter write that party's side."""
    if not dispute.is_joint:
        return
    i, other = next((i, p) for i, p in enumerate(dispute.parties) if p.tenant not in (None, dispute.tenant))
    raise api_error(422, "dispute.joint_needs_sides", f"parties[{i}].tenant: names tenant {other.tenant}, so party "
                    f"{other.id} files its own side: submit the shared structure with only your side "
                    "(dalrn split, then dalrn submit) and let it join", f"parties[{i}].tenant")


def opening(body: OpeningIn, tenant: str) -> tuple[dict[str, Any], PartySide]:
    """The shared part (the row's body) and the opener's side, after every rule; 422 otherwise."""
    data = body.model_dump(mode="json", exclude_none=True, exclude={"side", "precedent_search"})
    data["tenant"] = tenant
    shared = parse_shared(data)
    if not shared.is_joint:
        raise api_error(422, "dispute.not_joint", "parties: no party names a tenant other than yours; file the "
                        "whole dispute instead (one-sided)", "parties")
    try:
        check_joint_opening(JointOpening.model_validate({**data, "side": body.side.model_dump(mode="json")}),
                            body.side, tenant)
    except InputError as exc:
        raise side_refusal(exc) from None
    if now() >= shared.deadline:
        raise api_error(422, "request.invalid", f"deadline: {shared.deadline.isoformat()} has passed", "deadline")
    return shared.model_dump(mode="json", exclude_none=True), body.side


def new_side_row(row: DisputeRow, side: PartySide, tenant: str) -> PartySideRow:
    return PartySideRow(dispute_row=row.id, party=side.party, tenant=tenant, commitment=side.commitment,
                        side_hash=digest(side.model_dump(mode="json")), evidence_ids=[d.id for d in side.evidence],
                        sealed=seal_side(side, row.tenant, row.dispute_id), joined_at=now())


def join_problem(db: Session, row: DisputeRow, side: PartySide, tenant: str) -> tuple[ApiError | None, bool]:
    """Why `tenant` may not join `row` with `side` (None if it may), and whether it already did with it."""
    shared = shared_of(row)
    party = shared.party(side.party)
    if party is None:
        return api_error(422, "join.unknown_party", f"party: {side.party!r} is not a party of dispute "
                         f"{row.dispute_id}", "party"), False
    if party.tenant != tenant:
        return api_error(403, "join.not_your_party", f"party: {side.party!r} is filed by tenant {party.tenant}, "
                         "not by you", "party"), False
    existing = sides_of(db, row).get(side.party)
    if existing is not None:
        if existing.side_hash == digest(side.model_dump(mode="json")):
            return None, True
        return api_error(409, "join.conflict", f"party {side.party} already joined dispute {row.dispute_id} with "
                         "another side", "party"), False
    if past_deadline(row):
        return api_error(409, "join.deadline_passed", f"the deadline {deadline_of(row).isoformat()} of dispute "
                         f"{row.dispute_id} has passed", "deadline"), False
    if row.status != AWAITING_PARTIES:
        return api_error(409, "join.closed", f"dispute {row.dispute_id} takes no more sides (status {row.status})"), \
            False
    try:
        check_side(shared, side)
    except InputError as exc:
        return side_refusal(exc), False
    taken = {e for r in sides_of(db, row).values() for e in r.evidence_ids}
    for i, doc in enumerate(side.evidence):
        if doc.id in taken:
            return api_error(409, "join.evidence_id_taken", f"evidence[{i}].id: {doc.id!r} is already used in "
                             f"dispute {row.dispute_id}; choose another id", f"evidence[{i}].id"), False
    return None, False


def _sealed_cids(db: Session, row: DisputeRow) -> dict[str, str]:
    """Each filed side's sealed bytes in the content store (the same bytes, so the same CID each time)."""
    from blocks.evidence_store import content_store

    store = content_store(None)
    return {party: store.put(r.sealed) for party, r in sorted(sides_of(db, row).items())}


def _check_assembles(db: Session, row: DisputeRow) -> None:
    """The sides open and make a valid dispute (each was checked when filed; this catches a
    stored side altered since, before a run is started on it)."""
    sides = {p: unseal_side(r.sealed, row.tenant, row.dispute_id, p) for p, r in sides_of(db, row).items()}
    assemble(shared_of(row), sides)


async def start(db: Session, runs: Any, row: DisputeRow) -> None:
    """Start the run of a joint dispute that is complete or lapsed (status `queued`, no run yet)."""
    missing = waiting_for(db, row)
    if not missing:
        await asyncio.to_thread(_check_assembles, db, row)
    cids = await asyncio.to_thread(_sealed_cids, db, row)
    # A lapsed dispute negotiates nothing, so it asks the opener for no reveal either.
    mode: dict[str, Any] = {"absent_parties": missing} if missing else {}
    if row.precedent_search and not missing:
        mode["precedent_search"] = row.precedent_search
    key = f"{'lapse' if missing else 'joint'}-{row.body_hash}"
    release_connection(db)
    try:
        with tracer().start_as_current_span("dispute.start", attributes={"dalrn.tenant": row.tenant}):
            row.flow_run_id = await runs.start(tenant=row.tenant, dispute=row.body, idempotency_key=key,
                                               sides=cids, **mode)
            row.trace_id = current_trace_id()
    except RUN_SERVICE_ERRORS:
        log.exception("could not start the run of joint dispute %s/%s", row.tenant, row.dispute_id)
        raise api_error(503, "runs.unavailable", "every side is recorded but the run could not start; it is "
                        "retried shortly (or join again with the same side)") from None
    row.updated_at = now()
    db.commit()


async def lapse_if_due(db: Session, runs: Any, row: DisputeRow) -> bool:
    """End an `awaiting_parties` dispute whose deadline has passed; whether it did."""
    if row.status != AWAITING_PARTIES or not past_deadline(row):
        return False
    row.status, row.updated_at = "queued", now()
    db.commit()  # durable before the run starts: a failed start is retried by reconcile
    log.info("joint dispute %s/%s lapsed: %s did not join", row.tenant, row.dispute_id, waiting_for(db, row))
    await start(db, runs, row)
    return True


async def reconcile(sessions: sessionmaker[Session], runs: Any) -> int:
    """Lapse every joint dispute past its deadline and restart failed starts; how many were handled."""
    handled = 0
    with sessions() as db:
        ids = db.scalars(select(DisputeRow.id).where(
            DisputeRow.status.in_([AWAITING_PARTIES, "queued"]), DisputeRow.flow_run_id.is_(None))).all()
    for row_id in ids:
        with sessions() as db:
            row = db.get(DisputeRow, row_id)
            if row is None or not is_joint(db, row):
                continue
            try:
                if row.status == AWAITING_PARTIES:
                    handled += await lapse_if_due(db, runs, row)
                else:  # queued, complete or lapsed, and its start failed
                    await start(db, runs, row)
                    handled += 1
            except ApiError:  # the run service is down: the next pass tries again
                continue
    return handled


async def reconcile_forever(sessions: sessionmaker[Session], runs: Any, every_s: float) -> None:
    """`reconcile` now and then every `every_s` seconds, until cancelled."""
    while True:
        try:
            await reconcile(sessions, runs)
        except Exception:  # a failed pass (a bug included) is logged; it must not end the loop
            log.exception("joint-dispute reconcile pass failed")
        await asyncio.sleep(every_s)


def memo_view(db: Session, row: DisputeRow, tenant: str, memo_cid: str) -> str:
    """The stored joint memo as `tenant` reads it: its own sides filled in, the others' as commitments."""
    from blocks.evidence_store import content_store
    from dalrn_core.explain.party_view import party_view, render_party_markdown

    memo = json.loads(content_store(None).get(memo_cid))
    own = {p: unseal_side(r.sealed, row.tenant, row.dispute_id, p)
           for p, r in sides_of(db, row).items() if r.tenant == tenant}
    return render_party_markdown(party_view(memo, own))


def joined_at(row: PartySideRow) -> datetime:
    moment = aware(row.joined_at)
    assert moment is not None
    return moment

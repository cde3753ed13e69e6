"""Confidential evidence: the tenants' envelope keys, and each item's ciphertext for its readers.

A tenant registers the X25519 public key its SDK wraps dispute data keys for
(`PUT /v1/keys/envelope`); another tenant reads it to let that tenant read its evidence
(`GET /v1/keys/envelope/{tenant}`). The gateway keeps public keys only: it can neither
unwrap a data key nor open an envelope.

`GET /v1/disputes/{id}/evidence/{evidence_id}` describes an item to a party of the dispute;
for a confidential item it names the envelope's CID, which the caller may then download
(`GET /v1/content/{cid}`) when the envelope lists its tenant as a reader. The text is
decrypted only on the reader's side.

`check_confidential` is the submission's check: every confidential item names an envelope
its submitter uploaded, bound to this dispute, this item and this tenant.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable, Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from dalrn_core.dispute.model import Dispute, Evidence, Identifier
from dalrn_core.errors import InputError, IntegrityError
from dalrn_core.evidence.confidential import ReaderKeys, check_envelope, owner_tenant
from dalrn_core.evidence.envelope import read_header
from gateway import scopes, visibility
from gateway.deps import DB, Principal, record, require
from gateway.errors import ApiError, api_error, responses
from gateway.routers import content

log = logging.getLogger("dalrn.gateway")
router = APIRouter(tags=["evidence"])
EVIDENCE = "evidence"
SubmitterQuery = Annotated[Identifier | None, Query(description="the submitting tenant, when several are visible")]


class EnvelopeKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str = Field(min_length=40, max_length=64,
                            description="your X25519 public key: its 32 raw bytes in base64")


class EnvelopeKey(BaseModel):
    tenant: str
    public_key: str = Field(description="X25519 public key, 32 raw bytes in base64")
    key_id: str = Field(description="sha256 (hex) of the raw public key")
    registered_at: str


class EvidenceView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dispute_id: str
    evidence_id: str
    party: str
    owner: str = Field(description="the tenant that speaks for the item's party (and sealed it, if confidential)")
    title: str
    confidential: bool
    text: str | None = Field(default=None, description="the text of a public item")
    ciphertext_cid: str | None = Field(default=None, description="a confidential item's envelope "
                                       "(GET /v1/content/{cid}; decrypt it on your side)")
    readers: list[str] | None = Field(default=None, description="the tenants the envelope's data key "
                                      "is wrapped for")


def _key_view(key) -> EnvelopeKey:
    return EnvelopeKey(tenant=key.tenant, public_key=key.public_key, key_id=key.key_id,
                       registered_at=key.registered_at)


@router.put("/v1/keys/envelope", response_model=EnvelopeKey, responses=responses(401, 403, 422, 429),
            summary="Register your X25519 public key for confidential evidence")
async def register_envelope_key(body: EnvelopeKeyIn,
                                principal: Annotated[Principal, Depends(require(scopes.DISPUTES_WRITE))],
                                db: DB) -> EnvelopeKey:
    try:
        raw = base64.b64decode(body.public_key, validate=True)
    except (binascii.Error, ValueError):
        raise api_error(422, "request.invalid", "public_key: is not base64", "public_key") from None
    try:
        key = await asyncio.to_thread(ReaderKeys().register, principal.tenant, raw)
    except InputError as exc:
        raise api_error(422, "request.invalid", f"public_key: {exc.problems[0].rule}", "public_key") from None
    record(db, principal, "envelope_key.register", f"tenant:{principal.tenant}", "ok")
    return _key_view(key)


@router.get("/v1/keys/envelope/{tenant}", response_model=EnvelopeKey, responses=responses(401, 403, 404, 422, 429),
            summary="A tenant's X25519 public key, to let it read your confidential evidence")
async def get_envelope_key(tenant: Identifier,
                           principal: Annotated[Principal, Depends(require(scopes.DISPUTES_WRITE))],
                           db: DB) -> EnvelopeKey:
    key = await asyncio.to_thread(ReaderKeys().get, tenant)
    if key is None:
        record(db, principal, "envelope_key.read", f"tenant:{tenant}", "not_found")
        raise api_error(404, "envelope_key.not_found", f"tenant {tenant} has registered no envelope key", "tenant")
    record(db, principal, "envelope_key.read", f"tenant:{tenant}", "ok")
    return _key_view(key)


def check_confidential(db: Session, principal: Principal, dispute: Dispute, *, prefix: str = "evidence") -> None:
    """422 unless every confidential item names an envelope this tenant uploaded, bound to its place."""
    check_confidential_items(db, principal, dispute.evidence, dispute_id=dispute.id, prefix=prefix,
                             owner=lambda party: owner_tenant(dispute, party))


def check_confidential_items(db: Session, principal: Principal, items: Sequence[Evidence], *, dispute_id: str,
                             owner: Callable[[str], str], prefix: str) -> None:
    """The check of `check_confidential` for items anywhere in a request (``side.evidence`` of a
    joint opening or a joining side); `owner(party)` is the tenant speaking for a party."""
    store = content._store()
    for i, doc in enumerate(items):
        if not doc.confidential:
            continue
        field = f"{prefix}[{i}].ciphertext_cid"
        cid = doc.ciphertext_cid
        assert cid is not None  # the model requires it of a confidential item
        if not content.uploaded_by(db, cid, principal.tenant):
            raise api_error(422, "evidence.unknown_content", f"{field}: {cid} is not content you uploaded "
                            "(POST /v1/content)", field)
        try:
            check_envelope(store.get(cid), tenant=owner(doc.party), dispute_id=dispute_id, evidence_id=doc.id)
        except InputError as exc:
            raise api_error(422, "evidence.invalid_envelope", f"{field}: {exc.problems[0].rule}", field) from None
        except IntegrityError:
            log.error("uploaded envelope %s of %s is missing or corrupt in the content store", cid, principal.tenant)
            raise api_error(503, "content.unavailable", "the uploaded content cannot be read from the store now") \
                from None


def _item(db: Session, row, evidence_id: str) -> tuple[dict, str] | None:
    """The item (as JSON) and the tenant speaking for its party; a joint dispute's from the sealed sides."""
    body = row.body or {}
    tenants = {p.get("id"): p.get("tenant") for p in body.get("parties") or []}
    for item in body.get("evidence") or []:
        if item.get("id") == evidence_id:
            return item, tenants.get(item.get("party")) or row.tenant
    from dalrn_core.sealing import unseal_side
    from gateway import joint

    for party, side_row in joint.sides_of(db, row).items():
        side = unseal_side(side_row.sealed, row.tenant, row.dispute_id, party)
        for doc in side.evidence:
            if doc.id == evidence_id:
                return doc.model_dump(mode="json"), tenants.get(party) or row.tenant
    return None


@router.get("/v1/disputes/{dispute_id}/evidence/{evidence_id}", response_model=EvidenceView,
            responses=responses(401, 403, 404, 422, 429, 503),
            summary="An evidence item of your dispute; a confidential one by its envelope's CID")
async def get_evidence(dispute_id: Identifier, evidence_id: Identifier,
                       principal: Annotated[Principal, Depends(require(scopes.DISPUTES_READ))],
                       db: DB, tenant: SubmitterQuery = None) -> EvidenceView:
    row = visibility.find(db, principal, dispute_id, tenant)
    resource = f"dispute:{row.tenant}/{row.dispute_id}/evidence/{evidence_id}"
    found = await asyncio.to_thread(_item, db, row, evidence_id)
    if found is None:
        record(db, principal, "evidence.read", resource, "not_found")
        raise api_error(404, "evidence.not_found", f"dispute {dispute_id} has no evidence {evidence_id}",
                        "evidence_id")
    item, owner = found
    view = EvidenceView(dispute_id=row.dispute_id, evidence_id=evidence_id, party=item["party"], owner=owner,
                        title=item["title"], confidential=bool(item.get("confidential")), text=item.get("text"),
                        ciphertext_cid=item.get("ciphertext_cid"))
    if view.ciphertext_cid is not None:
        readers = await asyncio.to_thread(_readers, view.ciphertext_cid)
        if principal.tenant not in readers:  # not wrapped for this tenant: nothing to give it
            record(db, principal, "evidence.read", resource, "not_a_reader")
            raise api_error(404, "evidence.not_found", f"dispute {dispute_id} has no evidence {evidence_id} "
                            "readable by you", "evidence_id")
        content.grant(db, view.ciphertext_cid, principal.tenant, EVIDENCE, 0, dispute_row=row.id)
        view = view.model_copy(update={"readers": readers})
    record(db, principal, "evidence.read", resource, "ok")
    return view


def _readers(cid: str) -> list[str]:
    try:
        return list(read_header(content._store().get(cid)).recipients)
    except IntegrityError:
        log.error("the envelope %s of a submitted dispute is missing or corrupt", cid)
        raise ApiError(503, "content.unavailable", f"content {cid} cannot be read from the store now") from None

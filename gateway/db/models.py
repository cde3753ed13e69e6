"""Tables of the gateway: identity, signing keys, disputes, idempotency, content grants, audit log
and its anchored heads, receipt-signing keys."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: DateTime(timezone=True)}


class Tenant(Base):
    __tablename__ = "tenants"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class ApiKey(Base):
    """A principal's credential: only the argon2id hash of the secret is kept."""

    __tablename__ = "api_keys"
    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name"), index=True)
    secret_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    replaced_by: Mapped[str | None] = mapped_column(String(40))


class AuditorGrant(Base):
    __tablename__ = "auditor_grants"
    auditor: Mapped[str] = mapped_column(ForeignKey("tenants.name"), primary_key=True)
    target: Mapped[str] = mapped_column(ForeignKey("tenants.name"), primary_key=True)
    created_at: Mapped[datetime]


class SigningKey(Base):
    """A JWT signing key: the public half here, the private half in the keys folder (0600)."""

    __tablename__ = "signing_keys"
    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    public_key: Mapped[str] = mapped_column(Text)  # base64url raw Ed25519
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]


class DisputeRow(Base):
    __tablename__ = "disputes"
    __table_args__ = (UniqueConstraint("tenant", "dispute_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name"), index=True)
    dispute_id: Mapped[str] = mapped_column(String(64), index=True)
    parties: Mapped[list] = mapped_column(JSON)
    body: Mapped[dict] = mapped_column(JSON)
    body_hash: Mapped[str] = mapped_column(String(64))
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    result: Mapped[dict | None] = mapped_column(JSON)
    submitted_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The tenant's encrypted precedent search (CIDs, key id, k), a run parameter beside the dispute.
    precedent_search: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    # The OpenTelemetry trace id of the request (or reconciliation) that started its run.
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency"
    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    dispute_row: Mapped[int] = mapped_column(ForeignKey("disputes.id"))
    created_at: Mapped[datetime]


class PartySideRow(Base):
    """One party's side of a joint dispute, sealed at rest (AES-GCM under the server's sealing
    key, bound to the dispute's tenant, id and the party); only its commitment is in clear."""

    __tablename__ = "party_sides"
    __table_args__ = (UniqueConstraint("dispute_row", "party"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dispute_row: Mapped[int] = mapped_column(ForeignKey("disputes.id"), index=True)
    party: Mapped[str] = mapped_column(String(64))
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name"), index=True)  # who filed it
    commitment: Mapped[str] = mapped_column(String(64))
    side_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the side's canonical JSON: a repeat is the same
    evidence_ids: Mapped[list] = mapped_column(JSON)  # ids are public (the memo lists them); texts are sealed
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    joined_at: Mapped[datetime]


class ContentGrant(Base):
    """A tenant may read content `cid`: it uploaded it, or the gateway handed it the CID
    for one of its disputes (the encrypted scores of its paused search)."""

    __tablename__ = "content_grants"
    __table_args__ = (UniqueConstraint("cid", "tenant"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cid: Mapped[str] = mapped_column(String(128), index=True)
    tenant: Mapped[str] = mapped_column(ForeignKey("tenants.name"), index=True)
    origin: Mapped[str] = mapped_column(String(16))  # "upload" or "search"
    dispute_row: Mapped[int | None] = mapped_column(ForeignKey("disputes.id"), nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """Append-only: each entry's hash covers the previous hash; the hash is signed."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    principal: Mapped[str] = mapped_column(String(64))
    tenant: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(40))
    request_id: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    signature: Mapped[str] = mapped_column(Text)


class AuditAnchor(Base):
    """An audit head queued for a receipt batch: its statement's CID is the batch leaf's name."""

    __tablename__ = "audit_anchors"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    statement_cid: Mapped[str] = mapped_column(String(128), unique=True)
    queued_at: Mapped[datetime]


class ReceiptKey(Base):
    """A receipt-signing public key the operator has used: published while not revoked.

    The private half is the key file of the workers that sign receipts; a retired key signs
    nothing new, but the receipts it signed still verify against it.
    """

    __tablename__ = "receipt_keys"
    kid: Mapped[str] = mapped_column(String(40), primary_key=True)
    public_key: Mapped[str] = mapped_column(String(64), unique=True)  # hex raw Ed25519
    first_seen_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

"""initial gateway schema: identity, signing keys, disputes, idempotency, audit log

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("tenants", sa.Column("name", sa.String(64), primary_key=True),
                    sa.Column("role", sa.String(16), nullable=False), sa.Column("created_at", TS, nullable=False))
    op.create_table("api_keys", sa.Column("key_id", sa.String(40), primary_key=True),
                    sa.Column("tenant", sa.String(64), sa.ForeignKey("tenants.name"), nullable=False, index=True),
                    sa.Column("secret_hash", sa.Text, nullable=False), sa.Column("created_at", TS, nullable=False),
                    sa.Column("expires_at", TS, nullable=False), sa.Column("revoked_at", TS, nullable=True),
                    sa.Column("replaced_by", sa.String(40), nullable=True))
    op.create_table("auditor_grants",
                    sa.Column("auditor", sa.String(64), sa.ForeignKey("tenants.name"), primary_key=True),
                    sa.Column("target", sa.String(64), sa.ForeignKey("tenants.name"), primary_key=True),
                    sa.Column("created_at", TS, nullable=False))
    op.create_table("signing_keys", sa.Column("kid", sa.String(40), primary_key=True),
                    sa.Column("public_key", sa.Text, nullable=False), sa.Column("created_at", TS, nullable=False),
                    sa.Column("retired_at", TS, nullable=True))
    op.create_table("disputes", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("tenant", sa.String(64), sa.ForeignKey("tenants.name"), nullable=False, index=True),
                    sa.Column("dispute_id", sa.String(64), nullable=False, index=True),
                    sa.Column("parties", sa.JSON, nullable=False), sa.Column("body", sa.JSON, nullable=False),
                    sa.Column("body_hash", sa.String(64), nullable=False),
                    sa.Column("flow_run_id", sa.String(64), nullable=True),
                    sa.Column("status", sa.String(24), nullable=False), sa.Column("result", sa.JSON, nullable=True),
                    sa.Column("submitted_at", TS, nullable=False), sa.Column("updated_at", TS, nullable=False),
                    sa.UniqueConstraint("tenant", "dispute_id"))
    op.create_table("idempotency", sa.Column("tenant", sa.String(64), primary_key=True),
                    sa.Column("key", sa.String(200), primary_key=True),
                    sa.Column("body_hash", sa.String(64), nullable=False),
                    sa.Column("dispute_row", sa.Integer, sa.ForeignKey("disputes.id"), nullable=False),
                    sa.Column("created_at", TS, nullable=False))
    op.create_table("audit_log", sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("at", TS, nullable=False), sa.Column("principal", sa.String(64), nullable=False),
                    sa.Column("tenant", sa.String(64), nullable=False, index=True),
                    sa.Column("role", sa.String(16), nullable=False), sa.Column("action", sa.String(64), nullable=False),
                    sa.Column("resource", sa.String(200), nullable=False),
                    sa.Column("outcome", sa.String(40), nullable=False),
                    sa.Column("request_id", sa.String(64), nullable=False),
                    sa.Column("prev_hash", sa.String(64), nullable=False),
                    sa.Column("hash", sa.String(64), nullable=False, unique=True),
                    sa.Column("signature", sa.Text, nullable=False))


def downgrade() -> None:
    for table in ("audit_log", "idempotency", "disputes", "signing_keys", "auditor_grants", "api_keys", "tenants"):
        op.drop_table(table)

"""audit heads queued for receipt batches; receipt-signing keys published for verification

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("audit_anchors", sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("hash", sa.String(64), nullable=False),
                    sa.Column("statement_cid", sa.String(128), nullable=False, unique=True),
                    sa.Column("queued_at", TS, nullable=False))
    op.create_table("receipt_keys", sa.Column("kid", sa.String(40), primary_key=True),
                    sa.Column("public_key", sa.String(64), nullable=False, unique=True),
                    sa.Column("first_seen_at", TS, nullable=False),
                    sa.Column("retired_at", TS, nullable=True), sa.Column("revoked_at", TS, nullable=True))


def downgrade() -> None:
    op.drop_table("receipt_keys")
    op.drop_table("audit_anchors")

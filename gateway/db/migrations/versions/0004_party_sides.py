"""party_sides: each party's own side of a joint dispute, sealed at rest

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("party_sides", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("dispute_row", sa.Integer, sa.ForeignKey("disputes.id"), nullable=False, index=True),
                    sa.Column("party", sa.String(64), nullable=False),
                    sa.Column("tenant", sa.String(64), sa.ForeignKey("tenants.name"), nullable=False, index=True),
                    sa.Column("commitment", sa.String(64), nullable=False),
                    sa.Column("side_hash", sa.String(64), nullable=False),
                    sa.Column("evidence_ids", sa.JSON, nullable=False),
                    sa.Column("sealed", sa.LargeBinary, nullable=False),
                    sa.Column("joined_at", TS, nullable=False),
                    sa.UniqueConstraint("dispute_row", "party"))


def downgrade() -> None:
    op.drop_table("party_sides")

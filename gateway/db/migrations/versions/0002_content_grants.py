"""content grants (who may read which CID) and a dispute's precedent search

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table("content_grants", sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("cid", sa.String(128), nullable=False, index=True),
                    sa.Column("tenant", sa.String(64), sa.ForeignKey("tenants.name"), nullable=False, index=True),
                    sa.Column("origin", sa.String(16), nullable=False),
                    sa.Column("dispute_row", sa.Integer, sa.ForeignKey("disputes.id"), nullable=True),
                    sa.Column("size", sa.Integer, nullable=False),
                    sa.Column("created_at", TS, nullable=False),
                    sa.UniqueConstraint("cid", "tenant"))
    with op.batch_alter_table("disputes") as batch:
        batch.add_column(sa.Column("precedent_search", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("disputes") as batch:
        batch.drop_column("precedent_search")
    op.drop_table("content_grants")

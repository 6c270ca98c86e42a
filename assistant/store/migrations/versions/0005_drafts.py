"""drafts: a case drafted from a ticket (or the reason it was not), its sentences' sources, tags and
possible duplicates; product_versions: each product's current version, for finding stale cases

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drafts",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("ticket_id", sa.String(200), primary_key=True),
        sa.Column("case_id", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("payload", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_drafts_case", "drafts", ["tenant", "case_id"])
    op.create_table(
        "product_versions",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("product", sa.String(200), primary_key=True),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("product_versions")
    op.drop_index("ix_drafts_case", "drafts")
    op.drop_table("drafts")

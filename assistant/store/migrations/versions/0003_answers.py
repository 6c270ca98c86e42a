"""answers: every answer given, with its citations; abstentions are the library's knowledge gaps

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "answers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("ticket_id", sa.String(200), nullable=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("citations", sa.Text, nullable=False, server_default="[]"),
        sa.Column("abstained", sa.Boolean, nullable=False),
        sa.Column("support", sa.Float, nullable=False),
        sa.Column("engine", sa.String(100), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_answers_tenant_abstained", "answers", ["tenant", "abstained", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_answers_tenant_abstained", "answers")
    op.drop_table("answers")

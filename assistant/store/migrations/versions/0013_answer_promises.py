"""answers gain promises (JSON: the sentences that commit to a refund, a deadline, compensation, a legal
or medical statement or a guarantee their cited source does not make) and flagged (whether there are
any), indexed so that the desk counts flagged answers per tenant and period

Answers logged before this revision count as not flagged.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("promises", sa.Text, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("flagged", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_index("ix_answers_tenant_flagged", "answers", ["tenant", "flagged", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_answers_tenant_flagged", "answers")
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("flagged")
        batch.drop_column("promises")

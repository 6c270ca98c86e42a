"""feedback gains a rater column (the API key, bot user or command-line user who rated; '' for ratings
given before this revision), and answer_opens keeps which cited or related record an agent opened from
an answer: both feed the ratings' prior (assistant/rating_prior.py), which caps each rater's say

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("rater", sa.String(200), nullable=False, server_default=""))
    op.create_index("ix_feedback_tenant_id", "feedback", ["tenant", "id"])
    op.create_table(
        "answer_opens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("answer_id", sa.String(32), nullable=False),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("rater", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_answer_opens_tenant_id", "answer_opens", ["tenant", "id"])


def downgrade() -> None:
    op.drop_index("ix_answer_opens_tenant_id", "answer_opens")
    op.drop_table("answer_opens")
    op.drop_index("ix_feedback_tenant_id", "feedback")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("rater")

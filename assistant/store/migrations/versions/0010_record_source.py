"""records gain a source column: the file a record was last imported from (an absolute path; '' for
records written otherwise), so that ``casepilot ingest DIR --sync`` can find the records whose files
are gone

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("source", sa.Text, nullable=False, server_default=""))
    op.create_index("ix_records_source", "records", ["tenant", "source"])


def downgrade() -> None:
    op.drop_index("ix_records_source", "records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("source")

"""chunks gain a heading column: the heading path of an article chunk ("安装指南 > 无线网络 > 5GHz")

Chunks stored before this revision have no heading; ``casepilot reindex`` re-chunks them.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.add_column(sa.Column("heading", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("chunks") as batch:
        batch.drop_column("heading")

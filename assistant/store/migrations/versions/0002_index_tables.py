"""chunks, the embedding cache, index state; records gain a product column

Revision ID: 0002
Revises: 0001
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("product", sa.String(200), nullable=False, server_default=""))
    # fill the new column from the stored records
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT tenant, id, data FROM records")).fetchall()
    for tenant, rid, data in rows:
        product = str(json.loads(data).get("product") or "")
        conn.execute(sa.text("UPDATE records SET product = :p WHERE tenant = :t AND id = :i"),
                     {"p": product, "t": tenant, "i": rid})
    op.create_table(
        "chunks",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("chunk_id", sa.String(300), primary_key=True),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("section", sa.String(32), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("index_text", sa.Text, nullable=False),
        sa.Column("tokens", sa.Text, nullable=False),
        sa.Column("space", sa.String(16), nullable=False),
        sa.Column("keyword", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("product", sa.String(200), nullable=False, server_default=""),
        sa.Column("tags", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_index("ix_chunks_record", "chunks", ["tenant", "record_id"])
    op.create_table(
        "embeddings",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("text_hash", sa.String(64), primary_key=True),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "index_state",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("index_state")
    op.drop_table("embeddings")
    op.drop_index("ix_chunks_record", "chunks")
    op.drop_table("chunks")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("product")

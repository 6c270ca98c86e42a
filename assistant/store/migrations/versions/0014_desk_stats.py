"""the desk's numbers (assistant/stats.py) by aggregate queries: answer_citations (one row per record an
answer cited, with the answer's time), record_tags (one row per tag a record carries), records.opened_at
(a ticket's time: its first message's, in UTC), and the indexes those queries read; existing answers and
records are filled in

Revision ID: 0014
Revises: 0010
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None

PAGE = 5_000


def upgrade() -> None:
    from assistant.store.desk import cited_ids, opened_at, record_tags

    op.create_table(
        "answer_citations",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("answer_id", sa.String(32), primary_key=True),
        sa.Column("record_id", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_answer_citations_time", "answer_citations", ["tenant", "created_at", "record_id", "answer_id"])
    op.create_index("ix_answer_citations_record", "answer_citations", ["tenant", "record_id"])
    op.create_table(
        "record_tags",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(200), primary_key=True),
        sa.Column("tag", sa.String(200), primary_key=True),
    )
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("opened_at", sa.String(40), nullable=True))
    op.create_index("ix_records_opened", "records", ["tenant", "kind", "opened_at"])
    op.create_index("ix_answers_tenant_created", "answers", ["tenant", "created_at", "abstained"])

    conn = op.get_bind()
    answers = sa.table("answers", sa.column("id"), sa.column("tenant"), sa.column("citations"),
                       sa.column("created_at"))
    cites = sa.table("answer_citations", sa.column("tenant"), sa.column("answer_id"), sa.column("record_id"),
                     sa.column("created_at"))
    rows = [{"tenant": a.tenant, "answer_id": a.id, "record_id": rid, "created_at": a.created_at}
            for a in conn.execute(sa.select(answers)) for rid in cited_ids(a.citations)]
    for i in range(0, len(rows), PAGE):
        conn.execute(sa.insert(cites), rows[i:i + PAGE])
    records = sa.table("records", sa.column("tenant"), sa.column("id"), sa.column("kind"), sa.column("data"),
                       sa.column("created_at"), sa.column("opened_at"))
    tags = sa.table("record_tags", sa.column("tenant"), sa.column("record_id"), sa.column("tag"))
    tag_rows, opened = [], []
    for r in conn.execute(sa.select(records.c.tenant, records.c.id, records.c.kind, records.c.data,
                                    records.c.created_at)):
        data = json.loads(r.data)
        tag_rows += [{"tenant": r.tenant, "record_id": r.id, "tag": tag} for tag in record_tags(data)]
        if r.kind == "ticket":
            opened.append({"t": r.tenant, "i": r.id, "at": opened_at(data, r.created_at)})
    for i in range(0, len(tag_rows), PAGE):
        conn.execute(sa.insert(tags), tag_rows[i:i + PAGE])
    if opened:
        conn.execute(sa.update(records).where(records.c.tenant == sa.bindparam("t"), records.c.id == sa.bindparam("i"))
                     .values(opened_at=sa.bindparam("at")), opened)


def downgrade() -> None:
    op.drop_index("ix_answers_tenant_created", "answers")
    op.drop_index("ix_records_opened", "records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("opened_at")
    op.drop_table("record_tags")
    op.drop_index("ix_answer_citations_record", "answer_citations")
    op.drop_index("ix_answer_citations_time", "answer_citations")
    op.drop_table("answer_citations")

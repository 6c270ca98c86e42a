"""the desk's numbers (assistant/stats.py) by a few aggregate queries: answer_citations (one row per record
an answer cited, with the answer's time and current rating), record_tags (one row per tag a record
carries), question_days (questions a day: asked, answered, rated, helpful, and by the products and tags
their answers cited), answers.helpful (the newest rating), records.opened_at (a ticket's time: its first
message's, in UTC) and the indexes those queries read; filled in from the answers, ratings and records
already stored

Revision ID: 0014
Revises: 0013
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

PAGE = 5_000


def upgrade() -> None:
    # the store's own functions fill the new tables, so that they hold what a new answer or record adds
    from assistant.store.desk import cited_ids, count_questions, opened_at, record_tags

    op.create_table(
        "answer_citations",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("answer_id", sa.String(32), primary_key=True),
        sa.Column("record_id", sa.String(200), primary_key=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("helpful", sa.Boolean, nullable=True),
    )
    op.create_index("ix_answer_citations_time", "answer_citations", ["tenant", "created_at", "record_id", "helpful"])
    op.create_index("ix_answer_citations_record", "answer_citations", ["tenant", "record_id"])
    op.create_table(
        "record_tags",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(200), primary_key=True),
        sa.Column("tag", sa.String(200), primary_key=True),
    )
    op.create_table(
        "question_days",
        sa.Column("tenant", sa.String(64), primary_key=True),
        sa.Column("dim", sa.String(16), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("opened_at", sa.String(40), nullable=True))
    op.create_index("ix_records_opened", "records", ["tenant", "kind", "opened_at", "deleted", "id", "product"])
    with op.batch_alter_table("answers") as batch:
        batch.add_column(sa.Column("helpful", sa.Boolean, nullable=True))
    op.create_index("ix_answers_tenant_created", "answers", ["tenant", "created_at", "abstained", "helpful"])

    conn = op.get_bind()
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

    answers = sa.table("answers", sa.column("id"), sa.column("tenant"), sa.column("citations"),
                       sa.column("created_at"), sa.column("abstained"), sa.column("helpful"))
    cites = sa.table("answer_citations", sa.column("tenant"), sa.column("answer_id"), sa.column("record_id"),
                     sa.column("created_at"), sa.column("helpful"))
    feedback = sa.table("feedback", sa.column("id"), sa.column("tenant"), sa.column("answer_id"), sa.column("helpful"))
    rating = {r.answer_id: bool(r.helpful) for r in conn.execute(
        sa.select(feedback.c.answer_id, feedback.c.helpful).order_by(feedback.c.id))}  # the newest wins
    by_tenant: dict[str, list[dict]] = {}
    for a in conn.execute(sa.select(answers.c.id, answers.c.tenant, answers.c.citations, answers.c.created_at,
                                    answers.c.abstained)):
        by_tenant.setdefault(a.tenant, []).append({"id": a.id, "citations": a.citations, "created_at": a.created_at,
                                                   "abstained": bool(a.abstained), "helpful": rating.get(a.id)})
    for tenant, rows in by_tenant.items():
        cited = [{"tenant": tenant, "answer_id": a["id"], "record_id": rid, "created_at": a["created_at"],
                  "helpful": rating.get(a["id"])} for a in rows for rid in cited_ids(a["citations"])]
        for i in range(0, len(cited), PAGE):
            conn.execute(sa.insert(cites), cited[i:i + PAGE])
        for i in range(0, len(rows), PAGE):
            count_questions(conn, tenant, rows[i:i + PAGE])
    rated = [{"i": aid, "h": helpful} for aid, helpful in rating.items()]
    for i in range(0, len(rated), PAGE):
        conn.execute(sa.update(answers).where(answers.c.id == sa.bindparam("i")).values(helpful=sa.bindparam("h")),
                     rated[i:i + PAGE])


def downgrade() -> None:
    op.drop_index("ix_answers_tenant_created", "answers")
    with op.batch_alter_table("answers") as batch:
        batch.drop_column("helpful")
    op.drop_index("ix_records_opened", "records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("opened_at")
    op.drop_table("question_days")
    op.drop_table("record_tags")
    op.drop_index("ix_answer_citations_record", "answer_citations")
    op.drop_index("ix_answer_citations_time", "answer_citations")
    op.drop_table("answer_citations")

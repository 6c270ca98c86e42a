"""Table definitions (SQLAlchemy Core). The migrations in ``migrations/versions`` create them;
this module is what the code queries against. Keep the two in step: a test compares them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

records = sa.Table(
    "records",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("product", sa.String(200), nullable=False, server_default=""),
    sa.Column("data", sa.Text, nullable=False),  # the record as imported, JSON, original spelling
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),  # the file it was last imported from
    sa.Column("opened_at", sa.String(40), nullable=True),  # a ticket's time (UTC): its first message's, else stored
    sa.Index("ix_records_kind_status", "tenant", "kind", "status"),
    sa.Index("ix_records_source", "tenant", "source"),
    sa.Index("ix_records_opened", "tenant", "kind", "opened_at", "deleted", "id", "product"),  # covering
)

record_tags = sa.Table(  # the tags a record carries, one row each: the desk counts questions by tag in SQL
    "record_tags",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("record_id", sa.String(200), primary_key=True),
    sa.Column("tag", sa.String(200), primary_key=True),
)

record_versions = sa.Table(
    "record_versions",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_audit_record", "tenant", "record_id"),
)

chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("chunk_id", sa.String(300), primary_key=True),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("section", sa.String(32), nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("index_text", sa.Text, nullable=False),
    sa.Column("tokens", sa.Text, nullable=False),  # keyword tokens, space-separated
    sa.Column("space", sa.String(16), nullable=False),  # vector space, '' for none
    sa.Column("keyword", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("product", sa.String(200), nullable=False, server_default=""),
    sa.Column("tags", sa.Text, nullable=False, server_default="[]"),
    sa.Column("heading", sa.Text, nullable=False, server_default=""),  # an article chunk's heading path
    sa.Index("ix_chunks_record", "tenant", "record_id"),
)

embeddings = sa.Table(
    "embeddings",
    metadata,
    sa.Column("model", sa.String(200), primary_key=True),
    sa.Column("text_hash", sa.String(64), primary_key=True),
    sa.Column("vector", sa.LargeBinary, nullable=False),
)

answers = sa.Table(
    "answers",
    metadata,
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
    # the sentences that commit to what their source does not say (assistant.promises), JSON; and whether any
    sa.Column("promises", sa.Text, nullable=False, server_default="[]"),
    sa.Column("flagged", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("helpful", sa.Boolean, nullable=True),  # the newest rating; null: not rated
    sa.Index("ix_answers_tenant_abstained", "tenant", "abstained", "created_at"),
    sa.Index("ix_answers_tenant_flagged", "tenant", "flagged", "created_at"),
    sa.Index("ix_answers_tenant_created", "tenant", "created_at", "abstained", "helpful"),  # covering
)

answer_citations = sa.Table(  # the records an answer cited, one row each, with the answer's time
    "answer_citations",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("answer_id", sa.String(32), primary_key=True),
    sa.Column("record_id", sa.String(200), primary_key=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("helpful", sa.Boolean, nullable=True),  # the answer's newest rating; null: not rated
    sa.Index("ix_answer_citations_time", "tenant", "created_at", "record_id", "helpful"),  # covering
    sa.Index("ix_answer_citations_record", "tenant", "record_id"),
)

question_days = sa.Table(  # questions a day, and by what their answers cited: counted as answers are logged, rated
    "question_days",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    # asked | answered | rated | helpful (key ''), product | tag, attributed (cited any product; key '')
    sa.Column("dim", sa.String(16), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),  # YYYY-MM-DD, UTC
    sa.Column("key", sa.String(200), primary_key=True),  # the product or tag as the record had it then
    sa.Column("n", sa.Integer, nullable=False),
)

turns = sa.Table(
    "turns",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # the order of the turns
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("ticket_id", sa.String(200), nullable=False),  # a stored ticket's id, or any chat thread's id
    sa.Column("role", sa.String(16), nullable=False),  # 'user' | 'assistant'
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("answer_id", sa.String(32), nullable=True),  # the logged answer an assistant turn gave
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Index("ix_turns_ticket", "tenant", "ticket_id"),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("answer_id", sa.String(32), nullable=False),
    sa.Column("helpful", sa.Boolean, nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("rater", sa.String(200), nullable=False, server_default=""),  # who rated: api:KEY, a bot user, cli:NAME
    sa.Index("ix_feedback_answer", "tenant", "answer_id"),
    sa.Index("ix_feedback_tenant_id", "tenant", "id"),
)

answer_opens = sa.Table(
    "answer_opens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("answer_id", sa.String(32), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),  # a record the answer cited or listed as related
    sa.Column("rater", sa.String(200), nullable=False, server_default=""),  # who opened it
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Index("ix_answer_opens_tenant_id", "tenant", "id"),
)

drafts = sa.Table(
    "drafts",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("ticket_id", sa.String(200), primary_key=True),
    sa.Column("case_id", sa.String(200), nullable=True),  # the in_review case it became; none when skipped
    sa.Column("status", sa.String(16), nullable=False),  # in_review | skipped | approved | rejected | merged
    sa.Column("reason", sa.Text, nullable=False, server_default=""),  # why skipped / rejected / merged
    sa.Column("payload", sa.Text, nullable=False, server_default="{}"),  # sentences with sources, tags, duplicates
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Index("ix_drafts_case", "tenant", "case_id"),
)

product_versions = sa.Table(
    "product_versions",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("product", sa.String(200), primary_key=True),
    sa.Column("version", sa.String(100), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # the visible part of a key: cp_<id>_<secret>
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # agent | reviewer | admin
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("secret_hash", sa.String(64), nullable=False),  # sha256 hex of the secret part
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("revoked_at", sa.String(40), nullable=True),
    sa.Index("ix_api_keys_tenant", "tenant"),
)

import_jobs = sa.Table(
    "import_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("tenant", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | done | failed
    sa.Column("actor", sa.String(200), nullable=False, server_default=""),
    sa.Column("total", sa.Integer, nullable=False, server_default="0"),  # records to import
    sa.Column("done", sa.Integer, nullable=False, server_default="0"),  # records imported so far
    sa.Column("summary", sa.Text, nullable=False, server_default="{}"),  # the ingest summary, JSON
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Index("ix_import_jobs_tenant", "tenant", "created_at"),
)

index_state = sa.Table(
    "index_state",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

bot_channels = sa.Table(
    "bot_channels",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # in the webhook path: /bots/<platform>/<id>/...
    sa.Column("tenant", sa.String(64), nullable=False),  # the one tenant whose library the bot answers from
    sa.Column("platform", sa.String(16), nullable=False),  # slack | feishu | wecom | dingtalk
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("secrets", sa.Text, nullable=False, server_default="{}"),  # JSON; never logged or listed
    sa.Column("options", sa.Text, nullable=False, server_default="{}"),  # JSON: api_base, app ids, webhook
    sa.Column("fingerprint", sa.String(64), nullable=False),  # identifies the secrets without showing them
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Index("ix_bot_channels_tenant", "tenant"),
)

bot_events = sa.Table(
    "bot_events",
    metadata,
    sa.Column("channel_id", sa.String(32), primary_key=True),
    sa.Column("event_id", sa.String(200), primary_key=True),  # the platform's id of an event (its retries share it)
    sa.Column("expires_at", sa.Float, nullable=False),  # unix seconds
    sa.Index("ix_bot_events_expires", "expires_at"),
)

bot_threads = sa.Table(
    "bot_threads",
    metadata,
    sa.Column("channel_id", sa.String(32), primary_key=True),
    sa.Column("thread", sa.String(200), primary_key=True),  # the conversation key of a chat thread
    sa.Column("ticket_id", sa.String(200), nullable=False),  # the ticket last mentioned in the thread
    sa.Column("updated_at", sa.String(40), nullable=False),
)

taxonomies = sa.Table(
    "taxonomies",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),  # 1, 2, ...: the highest is the tenant's taxonomy
    sa.Column("source", sa.Text, nullable=False),  # the YAML as imported (comments kept): what an export writes
    sa.Column("content_hash", sa.String(64), nullable=False),  # sha256 of source: re-importing it changes nothing
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("origin", sa.Text, nullable=False, server_default=""),  # the file or route it came from
    sa.Column("created_at", sa.String(40), nullable=False),
)

curated_answers = sa.Table(
    "curated_answers",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(32), primary_key=True),  # CA-1, CA-2, ... per tenant
    sa.Column("version", sa.Integer, nullable=False),  # the current version (curated_versions holds all)
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("question_key", sa.Text, nullable=False),  # the question's wording key (assistant.gaps.wording_key)
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("reviewer", sa.String(200), nullable=False),  # who wrote the current version
    sa.Column("status", sa.String(16), nullable=False),  # active | retired
    sa.Column("source_answer_id", sa.String(32), nullable=True),  # the logged answer it corrected, if any
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("hits", sa.Integer, nullable=False, server_default="0"),  # questions it answered
    sa.Column("last_hit_at", sa.String(40), nullable=True),
    sa.Index("ix_curated_answers_status", "tenant", "status"),
)

curated_versions = sa.Table(
    "curated_versions",
    metadata,
    sa.Column("tenant", sa.String(64), primary_key=True),
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("reviewer", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # create | edit | retire
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("at", sa.String(40), nullable=False),
)

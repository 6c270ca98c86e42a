"""bot_channels: chat-channel bots (Slack, Feishu/Lark, WeCom, DingTalk), each bound to one tenant,
with the platform's secrets (never logged or listed; ``fingerprint`` identifies them);
bot_events: the platform event ids already taken, until they expire (retries are answered once,
across worker processes); bot_threads: the ticket a chat thread is scoped to

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_channels",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False, server_default=""),
        sa.Column("secrets", sa.Text, nullable=False, server_default="{}"),
        sa.Column("options", sa.Text, nullable=False, server_default="{}"),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_bot_channels_tenant", "bot_channels", ["tenant"])
    op.create_table(
        "bot_events",
        sa.Column("channel_id", sa.String(32), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_bot_events_expires", "bot_events", ["expires_at"])
    op.create_table(
        "bot_threads",
        sa.Column("channel_id", sa.String(32), primary_key=True),
        sa.Column("thread", sa.String(200), primary_key=True),
        sa.Column("ticket_id", sa.String(200), nullable=False),
        sa.Column("updated_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bot_threads")
    op.drop_index("ix_bot_events_expires", "bot_events")
    op.drop_table("bot_events")
    op.drop_index("ix_bot_channels_tenant", "bot_channels")
    op.drop_table("bot_channels")

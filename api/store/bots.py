"""Chat-channel bots: each channel (its tenant, platform, secrets and options), the platform event ids
a channel has seen (so a retry is answered once) and the ticket each chat thread last named."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.store import now_iso
from assistant.store import schema as t


@dataclass(frozen=True)
class BotChannel:
    """A channel as listed, without its secrets (the field order is the JSON's)."""

    id: str
    tenant: str
    platform: str
    name: str
    options: dict[str, Any]
    fingerprint: str  # identifies the secrets without showing them
    created_at: str


@dataclass(frozen=True)
class StoredChannel(BotChannel):
    """A channel with its secrets, for the webhook that verifies and answers."""

    secrets: dict[str, str]

    def __repr__(self) -> str:  # never shows the secrets
        return f"StoredChannel({self.platform}:{self.id}, tenant={self.tenant!r})"


class BotStore:
    """Bot channels, seen events and thread tickets (a mixin: ``HttpStore`` gives the engine)."""

    engine: Engine
    BOT_EVENTS_PRUNE_SECONDS = 60.0
    _bot_events_pruned = 0.0  # when expired bot events were last deleted (see claim_bot_event)

    def add_bot_channel(self, channel_id: str, tenant: str, platform: str, name: str, secrets: dict[str, str],
                        options: dict[str, Any], fingerprint: str) -> BotChannel:
        """Store a bot channel; what it returns has no secrets."""
        ch = BotChannel(channel_id, tenant, platform, name, options, fingerprint, now_iso())
        with self.engine.begin() as conn:
            conn.execute(sa.insert(t.bot_channels).values(
                id=ch.id, tenant=tenant, platform=platform, name=name, secrets=json.dumps(secrets),
                options=json.dumps(options, ensure_ascii=False), fingerprint=fingerprint, created_at=ch.created_at))
        return ch

    def bot_channel(self, channel_id: str) -> StoredChannel | None:
        """A channel with its secrets and options; ``None`` when there is no such channel."""
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(t.bot_channels).where(t.bot_channels.c.id == channel_id)).first()
        if r is None:
            return None
        return StoredChannel(r.id, r.tenant, r.platform, r.name, json.loads(r.options), r.fingerprint, r.created_at,
                             json.loads(r.secrets))

    def bot_channels(self, tenant: str | None = None) -> list[BotChannel]:
        """Channels, oldest first, without their secrets; of one tenant when ``tenant`` is given."""
        c = t.bot_channels.c
        q = (sa.select(c.id, c.tenant, c.platform, c.name, c.options, c.fingerprint, c.created_at)
             .order_by(c.created_at, c.id))
        if tenant is not None:
            q = q.where(c.tenant == tenant)
        with self.engine.connect() as conn:
            return [BotChannel(r.id, r.tenant, r.platform, r.name, json.loads(r.options), r.fingerprint, r.created_at)
                    for r in conn.execute(q)]

    def remove_bot_channel(self, channel_id: str, tenant: str | None = None) -> bool:
        """Delete a channel (of ``tenant`` only, when given) with its seen events and thread scopes."""
        c = t.bot_channels.c
        q = sa.delete(t.bot_channels).where(c.id == channel_id)
        if tenant is not None:
            q = q.where(c.tenant == tenant)
        with self.engine.begin() as conn:
            if not conn.execute(q).rowcount:
                return False
            conn.execute(sa.delete(t.bot_events).where(t.bot_events.c.channel_id == channel_id))
            conn.execute(sa.delete(t.bot_threads).where(t.bot_threads.c.channel_id == channel_id))
        return True

    def claim_bot_event(self, channel_id: str, event_id: str, ttl_seconds: float, now: float) -> bool:
        """True the first time a channel's event id is seen within ``ttl_seconds``; False for a repeat
        (a platform's retry or a replay). One insert decides, so worker processes agree."""
        e = t.bot_events.c
        event_id = event_id[:200]
        with self.engine.begin() as conn:  # this id's expired row now; everyone's at most once a minute
            conn.execute(sa.delete(t.bot_events).where(e.channel_id == channel_id, e.event_id == event_id,
                                                       e.expires_at < now))
            if now - self._bot_events_pruned > self.BOT_EVENTS_PRUNE_SECONDS:
                conn.execute(sa.delete(t.bot_events).where(e.expires_at < now))
                self._bot_events_pruned = now
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t.bot_events).values(channel_id=channel_id, event_id=event_id,
                                                            expires_at=now + ttl_seconds))
        except sa.exc.IntegrityError:
            return False
        return True

    def bot_thread_ticket(self, channel_id: str, thread: str) -> str | None:
        c = t.bot_threads.c
        with self.engine.connect() as conn:
            return conn.execute(sa.select(c.ticket_id).where(c.channel_id == channel_id, c.thread == thread)).scalar()

    def set_bot_thread_ticket(self, channel_id: str, thread: str, ticket_id: str) -> None:
        c = t.bot_threads.c
        with self.engine.begin() as conn:
            n = conn.execute(sa.update(t.bot_threads).where(c.channel_id == channel_id, c.thread == thread)
                             .values(ticket_id=ticket_id, updated_at=now_iso())).rowcount
            if not n:
                conn.execute(sa.insert(t.bot_threads).values(channel_id=channel_id, thread=thread,
                                                             ticket_id=ticket_id, updated_at=now_iso()))

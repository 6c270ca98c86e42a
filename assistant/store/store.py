"""The relational store: the source of truth for records, their versions, the audit log, chunks and
the embedding cache. The vector and keyword indexes are derived from it and can be rebuilt from it.

``Store`` is the composition of one small mixin per concern, each in its module: records, versions
and audit (``records``), import bookkeeping (``imports``), chunks, index state and the embedding
cache (``chunks``), answers, conversations and feedback (``answers``), drafts and product versions
(``drafts``), tag taxonomies (``taxonomies``). Consumers type against the narrow Protocols those
modules declare where they need only one concern.

SQLite (WAL, busy timeout) by default; any SQLAlchemy URL (PostgreSQL) works the same. The schema is
created and upgraded in place by Alembic migrations when the store is opened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..errors import BackendError, Conflict
from . import schema as t
from .answers import AnswerStore
from .chunks import WriteResult
from .drafts import DraftStore
from .engine import _migrations_dir, make_engine, now_iso, upgrade_schema
from .imports import ImportStore
from .locks import advisory_lock, file_lock
from .records import RecordWrite, StoredRecord
from .taxonomies import TaxonomyStore

__all__ = ["RecordWrite", "Store", "StoredRecord", "WriteResult", "_migrations_dir", "make_engine", "now_iso",
           "upgrade_schema"]

_API_KEY = sa.select(t.api_keys).where(t.api_keys.c.id == sa.bindparam("id"))


class Store(ImportStore, AnswerStore, DraftStore, TaxonomyStore):
    BOT_EVENTS_PRUNE_SECONDS = 60.0

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        # chunk writes through this store that have finished (committed or not): a cache of chunks read
        # during one is dropped at the next read (``assistant.retrieval.Retriever``)
        self.chunk_writes = 0
        self._bot_events_pruned = 0.0  # when expired bot events were last deleted (see claim_bot_event)
        try:
            self.engine = make_engine(url)
            if migrate:
                upgrade_schema(self.engine)
        except sa.exc.SQLAlchemyError as e:
            raise BackendError("database", f"cannot open {url}: {e}") from e

    def close(self) -> None:
        self.engine.dispose()

    @property
    def shared(self) -> bool:
        """A database server that several hosts may share (PostgreSQL), not a file of this host."""
        return self.engine.dialect.name == "postgresql"

    def writer_lock(self, tenant: str, lock_file: Path) -> AbstractContextManager[None]:
        """The tenant's write lock across processes and hosts: an advisory lock when the database is
        shared, else ``lock_file`` (SQLite lives on one host)."""
        return advisory_lock(self.engine, f"tenant-write:{tenant}") if self.shared else file_lock(lock_file)

    # ---- API keys ------------------------------------------------------------------------------

    def add_api_key(self, key_id: str, tenant: str, role: str, name: str, secret_hash: str) -> dict[str, Any]:
        """Store a key's public id and the sha256 of its secret (the secret itself is never stored)."""
        row = {"id": key_id, "tenant": tenant, "role": role, "name": name, "secret_hash": secret_hash,
               "created_at": now_iso(), "revoked_at": None}
        with self.engine.begin() as conn:
            conn.execute(sa.insert(t.api_keys).values(**row))
        return {k: v for k, v in row.items() if k != "secret_hash"}

    def api_key(self, key_id: str) -> dict[str, Any] | None:
        """A key's row (with ``secret_hash``), revoked or not; ``None`` when no key has this id."""
        with self.engine.connect() as conn:
            r = conn.execute(_API_KEY, {"id": key_id}).first()
        return None if r is None else r._asdict()

    def api_keys(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Keys, oldest first, without their hashes; of one tenant when ``tenant`` is given."""
        c = t.api_keys.c
        q = sa.select(c.id, c.tenant, c.role, c.name, c.created_at, c.revoked_at).order_by(c.created_at, c.id)
        if tenant is not None:
            q = q.where(c.tenant == tenant)
        with self.engine.connect() as conn:
            return [r._asdict() for r in conn.execute(q)]

    def revoke_api_key(self, key_id: str, tenant: str | None = None) -> bool:
        """Revoke a key (of ``tenant`` only, when given); False when there is no such unrevoked key;
        ``Conflict`` for its tenant's last active admin key (nobody could manage the tenant's keys)."""
        c = t.api_keys.c
        live = sa.and_(c.id == key_id, c.revoked_at.is_(None), *([c.tenant == tenant] if tenant is not None else []))
        other = t.api_keys.alias("other")
        admins = sa.select(sa.func.count()).where(other.c.tenant == c.tenant, other.c.role == "admin",
                                                  other.c.revoked_at.is_(None)).scalar_subquery()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(c.tenant, c.role).where(live)).first()
            if row is None:
                return False
            if row.role == "admin":  # lock the tenant's admin keys: two revokes cannot each leave the other one
                conn.execute(sa.select(c.id).where(c.tenant == row.tenant, c.role == "admin").with_for_update())
            # one statement, so that SQLite (one writer) sees the count it acts on
            done = conn.execute(sa.update(t.api_keys).where(live, sa.or_(c.role != "admin", admins > 1))
                                .values(revoked_at=now_iso())).rowcount
        if not done:
            raise Conflict(f"key {key_id} is the last active admin key of tenant {row.tenant!r}; create another "
                           f"admin key first (casepilot keys create --role admin --tenant {row.tenant})")
        return True

    # ---- chat-channel bots ---------------------------------------------------------------------

    def add_bot_channel(self, channel_id: str, tenant: str, platform: str, name: str, secrets: dict[str, str],
                        options: dict[str, Any], fingerprint: str) -> dict[str, Any]:
        """Store a bot channel; the returned row has no secrets."""
        row = {"id": channel_id, "tenant": tenant, "platform": platform, "name": name,
               "secrets": json.dumps(secrets), "options": json.dumps(options, ensure_ascii=False),
               "fingerprint": fingerprint, "created_at": now_iso()}
        with self.engine.begin() as conn:
            conn.execute(sa.insert(t.bot_channels).values(**row))
        return {**{k: v for k, v in row.items() if k != "secrets"}, "options": options}

    def bot_channel(self, channel_id: str) -> dict[str, Any] | None:
        """A channel's row with its secrets and options parsed; ``None`` when there is no such channel."""
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(t.bot_channels).where(t.bot_channels.c.id == channel_id)).first()
        if r is None:
            return None
        return {**r._asdict(), "secrets": json.loads(r.secrets), "options": json.loads(r.options)}

    def bot_channels(self, tenant: str | None = None) -> list[dict[str, Any]]:
        """Channels, oldest first, without their secrets; of one tenant when ``tenant`` is given."""
        c = t.bot_channels.c
        q = (sa.select(c.id, c.tenant, c.platform, c.name, c.options, c.fingerprint, c.created_at)
             .order_by(c.created_at, c.id))
        if tenant is not None:
            q = q.where(c.tenant == tenant)
        with self.engine.connect() as conn:
            return [{**r._asdict(), "options": json.loads(r.options)} for r in conn.execute(q)]

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

    # ---- import jobs ---------------------------------------------------------------------------

    def add_import_job(self, job_id: str, tenant: str, actor: str, total: int) -> None:
        at = now_iso()
        with self.engine.begin() as conn:
            conn.execute(sa.insert(t.import_jobs).values(id=job_id, tenant=tenant, status="queued", actor=actor,
                                                         total=total, done=0, created_at=at, updated_at=at))

    def update_import_job(self, job_id: str, **values: Any) -> None:
        """Set ``status``, ``done``, ``summary`` (a dict) or ``error`` of a job."""
        if "summary" in values:
            values["summary"] = json.dumps(values["summary"], ensure_ascii=False)
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.import_jobs).where(t.import_jobs.c.id == job_id)
                         .values(updated_at=now_iso(), **values))

    def touch_import_jobs(self, job_ids: Sequence[str]) -> None:
        """Mark jobs as alive (their ``updated_at``): the heartbeat of the process running them."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.import_jobs).where(t.import_jobs.c.id.in_(list(job_ids)))
                         .values(updated_at=now_iso()))

    def import_job(self, tenant: str, job_id: str) -> dict[str, Any] | None:
        """One job of ``tenant``, summary parsed; ``None`` when the tenant has no such job."""
        c = t.import_jobs.c
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(t.import_jobs).where(c.tenant == tenant, c.id == job_id)).first()
        if r is None:
            return None
        return {**{k: v for k, v in r._asdict().items() if k != "tenant"}, "summary": json.loads(r.summary)}

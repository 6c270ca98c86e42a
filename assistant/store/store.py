"""The relational store: the source of truth for records, their versions, the audit log, chunks and
the embedding cache. The vector and keyword indexes are derived from it and can be rebuilt from it.

SQLite (WAL, busy timeout) by default; any SQLAlchemy URL (PostgreSQL) works the same. The schema is
created and upgraded in place by Alembic migrations when the store is opened.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import BackendError, ConfigError, Conflict, InputError, NotFound
from ..text import keyword_tokens
from ..types import SEARCHABLE_KINDS, Chunk
from . import schema as t
from .locks import advisory_lock, file_lock
from .taxonomies import TaxonomyStore

TURN_ROLES = ("user", "assistant")
MAX_COMMENT_CHARS = 2000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class StoredRecord:
    tenant: str
    id: str
    kind: str
    status: str
    title: str
    product: str
    data: dict[str, Any]
    content_hash: str
    version: int
    deleted: bool
    created_at: str
    updated_at: str


@dataclass
class RecordWrite:
    """A record to create or replace, with the chunks it should have in the indexes (none when it is
    not indexed, e.g. tickets and archived records)."""

    record: dict[str, Any]
    content_hash: str
    chunks: list[Chunk] = field(default_factory=list)


@dataclass
class WriteResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # archived on import: gone from the indexes
    new_chunks: list[Chunk] = field(default_factory=list)
    removed_chunk_ids: list[str] = field(default_factory=list)

    @property
    def chunks_added(self) -> int:
        return len(self.new_chunks)

    @property
    def chunks_removed(self) -> int:
        return len(self.removed_chunk_ids)


def _migrations_dir() -> str:
    return str(resources.files("assistant.store").joinpath("migrations"))


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (in place, keeping the data)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            return
        except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError) as e:
            # another process (a second server worker) created the same tables between our reading the
            # schema version and our creating them: read it again (SQLite says so with an OperationalError;
            # PostgreSQL with a duplicate table, or a duplicate key in its catalogue: "... already exists")
            if attempt == 4 or "already exists" not in str(e):
                raise
            time.sleep(0.1 * (attempt + 1))


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, the `postgres` extra
    try:
        # pre-ping: a server restarted since a connection was pooled costs a reconnect, not an error
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_recycle=1800)
    except ModuleNotFoundError as e:
        raise ConfigError(f"no driver for {url.split('://', 1)[0]}: install the postgres extra "
                          "(pip install 'casepilot[postgres]'; make setup does)") from e


def _row_to_record(row: Any) -> StoredRecord:
    return StoredRecord(
        tenant=row.tenant, id=row.id, kind=row.kind, status=row.status, title=row.title,
        product=row.product, data=json.loads(row.data), content_hash=row.content_hash,
        version=row.version, deleted=bool(row.deleted), created_at=row.created_at, updated_at=row.updated_at,
    )


# a chunk's columns without its keyword tokens, which only the keyword index reads
_CHUNK_COLUMNS = [col for col in t.chunks.c if col.name != "tokens"]

# the statements of every answer, built once: building one cost more than running it (get_many 0.9 ms
# -> 0.3 ms on the sample library)
_p = sa.bindparam
_RECORD = sa.select(t.records).where(t.records.c.tenant == _p("tenant"), t.records.c.id == _p("id"))
_LIVE_RECORDS = sa.select(t.records).where(t.records.c.tenant == _p("tenant"), t.records.c.deleted == sa.false(),
                                           t.records.c.id.in_(_p("ids", expanding=True)))
_CHUNKS_BY_ID = sa.select(*_CHUNK_COLUMNS).where(t.chunks.c.tenant == _p("tenant"),
                                                 t.chunks.c.chunk_id.in_(_p("ids", expanding=True)))
_CHUNKS_OF = (sa.select(*_CHUNK_COLUMNS)
              .where(t.chunks.c.tenant == _p("tenant"), t.chunks.c.record_id.in_(_p("ids", expanding=True)),
                     t.chunks.c.section == _p("section"))
              .order_by(t.chunks.c.ordinal.desc()))
_STATES = sa.select(t.index_state.c.key, t.index_state.c.value).where(
    t.index_state.c.tenant == _p("tenant"), t.index_state.c.key.in_(_p("keys", expanding=True)))
_API_KEY = sa.select(t.api_keys).where(t.api_keys.c.id == _p("id"))
_PRODUCT_VERSIONS = sa.select(t.product_versions.c.product, t.product_versions.c.version).where(
    t.product_versions.c.tenant == _p("tenant"))


def _row_to_chunk(row: Any) -> Chunk:
    return Chunk(
        id=row.chunk_id, record_id=row.record_id, kind=row.kind, section=row.section, ordinal=row.ordinal,
        title=row.title, text=row.text, index_text=row.index_text, space=row.space, status=row.status,
        product=row.product, tags=tuple(json.loads(row.tags)), keyword=bool(row.keyword), heading=row.heading,
    )


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


class Store(TaxonomyStore):
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

    # ---- records -------------------------------------------------------------------------------

    def get(self, tenant: str, record_id: str, *, include_deleted: bool = False) -> StoredRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_RECORD, {"tenant": tenant, "id": record_id}).first()
        if row is None or (row.deleted and not include_deleted):
            return None
        return _row_to_record(row)

    def get_many(self, tenant: str, record_ids: Sequence[str]) -> dict[str, StoredRecord]:
        """``id -> record`` for those of ``record_ids`` that exist and are not deleted (one query)."""
        with self.engine.connect() as conn:
            return {r.id: _row_to_record(r)
                    for r in conn.execute(_LIVE_RECORDS, {"tenant": tenant, "ids": list(record_ids)})}

    def tenants(self) -> list[str]:
        """Every tenant that holds a record, sorted."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(t.records.c.tenant).distinct()).scalars())

    def has_searchable(self, tenant: str) -> bool:
        """Whether the tenant holds any case or article that is not deleted (one indexed query)."""
        c = t.records.c
        q = sa.select(c.id).where(c.tenant == tenant, c.kind.in_(SEARCHABLE_KINDS), c.deleted == sa.false()).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def products(self, tenant: str, kinds: Sequence[str] = SEARCHABLE_KINDS) -> set[str]:
        """The product names the tenant's live records of ``kinds`` carry (one query, no record read)."""
        c = t.records.c
        q = sa.select(c.product).distinct().where(c.tenant == tenant, c.kind.in_(list(kinds)),
                                                  c.deleted == sa.false(), c.product != "")
        with self.engine.connect() as conn:
            return set(conn.execute(q).scalars())

    def records(self, tenant: str, *, kind: str | None = None, include_deleted: bool = False) -> list[StoredRecord]:
        q = sa.select(t.records).where(t.records.c.tenant == tenant).order_by(t.records.c.id)
        if kind:
            q = q.where(t.records.c.kind == kind)
        if not include_deleted:
            q = q.where(t.records.c.deleted == sa.false())
        with self.engine.connect() as conn:
            return [_row_to_record(r) for r in conn.execute(q)]

    def tag_use(self, tags: Iterable[str], tenant: str | None = None) -> dict[str, dict[str, int]]:
        """``tag -> {tenant: records}`` for the stored records (of ``tenant``, or of every tenant)
        that carry any of ``tags``."""
        wanted = set(tags)
        out: dict[str, dict[str, int]] = {}
        if not wanted:
            return out
        q = sa.select(t.records.c.tenant, t.records.c.data).where(t.records.c.deleted == sa.false())
        if tenant is not None:
            q = q.where(t.records.c.tenant == tenant)
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                for tag in set(json.loads(row.data).get("tags") or []) & wanted:
                    per = out.setdefault(tag, {})
                    per[row.tenant] = per.get(row.tenant, 0) + 1
        return out

    def content_hashes(self, tenant: str, ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """``id -> (content_hash, deleted)`` for the ids that exist."""
        out: dict[str, tuple[str, bool]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = sa.select(t.records.c.id, t.records.c.content_hash, t.records.c.deleted).where(
                    t.records.c.tenant == tenant, t.records.c.id.in_(ids[i : i + 500])
                )
                out.update({r.id: (r.content_hash, bool(r.deleted)) for r in conn.execute(q)})
        return out

    def import_hashes(self, tenant: str, ids: Sequence[str]) -> dict[str, tuple[str, bool, str]]:
        """``id -> (content_hash, deleted, source)`` for the ids that exist: what an import compares
        each record of a batch with, in one query (``source``: the file it was last imported from)."""
        r = t.records.c
        out: dict[str, tuple[str, bool, str]] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = sa.select(r.id, r.content_hash, r.deleted, r.source).where(r.tenant == tenant,
                                                                               r.id.in_(ids[i : i + 500]))
                out.update({row.id: (row.content_hash, bool(row.deleted), row.source) for row in conn.execute(q)})
        return out

    def write(self, tenant: str, writes: Sequence[RecordWrite], *, actor: str,
              vectors: dict[str, np.ndarray] | None = None, model_id: str = "") -> WriteResult:
        """Create or replace records and their chunks in one transaction (all or nothing)."""
        res = WriteResult()
        at = now_iso()
        with self._chunk_write() as conn:
            for w in writes:
                self._write_one(conn, tenant, w, actor, at, res)
            if vectors:
                self._put_vectors(conn, model_id, vectors)
            if res.chunks_added or res.chunks_removed:
                self._bump_generation(conn, tenant)
        return res

    @contextmanager
    def _chunk_write(self) -> Iterator[Connection]:
        """A transaction that may change chunks, counted in ``chunk_writes`` once it has ended."""
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            self.chunk_writes += 1

    def _write_one(self, conn: Connection, tenant: str, w: RecordWrite, actor: str, at: str,
                   res: WriteResult) -> None:
        rec = w.record
        rid = str(rec["id"])
        old = conn.execute(
            sa.select(t.records).where(t.records.c.tenant == tenant, t.records.c.id == rid)
        ).first()
        values = {
            "kind": rec["kind"], "status": rec.get("status") or "",
            "title": rec.get("title") or rec.get("subject") or "",
            "product": rec.get("product") or "", "data": json.dumps(rec, ensure_ascii=False, sort_keys=True),
            "content_hash": w.content_hash, "deleted": False, "updated_at": at,
        }
        detail: dict[str, Any] = {}
        if old is None:
            version = 1
            conn.execute(sa.insert(t.records).values(tenant=tenant, id=rid, version=version, created_at=at, **values))
            action = "create"
            res.added.append(rid)
        else:
            version = old.version + 1
            conn.execute(sa.update(t.records).where(t.records.c.tenant == tenant, t.records.c.id == rid)
                         .values(version=version, **values))
            if old.deleted:
                action = "restore"
                res.added.append(rid)
            else:
                action = "archive" if values["status"] == "archived" and old.status != "archived" else "update"
                detail = {"fields": _changed_fields(json.loads(old.data), rec)}
                (res.removed if action == "archive" else res.updated).append(rid)
        conn.execute(sa.insert(t.record_versions).values(
            tenant=tenant, id=rid, version=version, data=values["data"], content_hash=w.content_hash, at=at,
            actor=actor))
        detail["version"] = version
        self._audit(conn, tenant, rid, action, actor, at, detail)
        self._replace_chunks(conn, tenant, rid, w.chunks, res)

    def _replace_chunks(self, conn: Connection, tenant: str, rid: str, new: Sequence[Chunk],
                        res: WriteResult) -> None:
        c = t.chunks.c
        have = set(conn.execute(sa.select(c.chunk_id).where(c.tenant == tenant, c.record_id == rid)).scalars())
        want = {ch.id: ch for ch in new}
        stale = have - set(want)
        if stale:
            conn.execute(sa.delete(t.chunks).where(c.tenant == tenant, c.chunk_id.in_(stale)))
        fresh = [ch for cid, ch in want.items() if cid not in have]
        if fresh:
            conn.execute(sa.insert(t.chunks), [
                {"tenant": tenant, "chunk_id": ch.id, "record_id": ch.record_id, "kind": ch.kind,
                 "section": ch.section, "ordinal": ch.ordinal, "title": ch.title, "text": ch.text,
                 "index_text": ch.index_text, "tokens": " ".join(_tokens_of(ch)) if ch.keyword else "",
                 "space": ch.space, "keyword": ch.keyword,
                 "status": ch.status, "product": ch.product, "tags": json.dumps(list(ch.tags), ensure_ascii=False),
                 "heading": ch.heading}
                for ch in fresh
            ])
        res.new_chunks.extend(fresh)
        res.removed_chunk_ids.extend(sorted(stale))

    def set_chunks(self, tenant: str, chunks_by_record: Mapping[str, Sequence[Chunk]]) -> WriteResult:
        """Replace records' chunks without a new record version (re-chunking on reindex)."""
        res = WriteResult()
        with self._chunk_write() as conn:
            for rid, chunks in chunks_by_record.items():
                self._replace_chunks(conn, tenant, rid, chunks, res)
            if res.chunks_added or res.chunks_removed:
                self._bump_generation(conn, tenant)
        return res

    def delete(self, tenant: str, ids: Iterable[str], *, actor: str) -> tuple[list[str], list[str], list[str]]:
        """Soft-delete records (kept in versions and audit); returns ``(deleted, unknown, removed chunk ids)``."""
        removed_chunks: list[str] = []
        deleted: list[str] = []
        unknown: list[str] = []
        at = now_iso()
        with self._chunk_write() as conn:
            for rid in ids:
                row = conn.execute(sa.select(t.records.c.deleted).where(
                    t.records.c.tenant == tenant, t.records.c.id == rid)).first()
                if row is None or row.deleted:
                    unknown.append(rid)
                    continue
                conn.execute(sa.update(t.records).where(t.records.c.tenant == tenant, t.records.c.id == rid)
                             .values(deleted=True, updated_at=at))
                cc = t.chunks.c
                removed_chunks.extend(conn.execute(
                    sa.select(cc.chunk_id).where(cc.tenant == tenant, cc.record_id == rid)).scalars())
                conn.execute(sa.delete(t.chunks).where(cc.tenant == tenant, cc.record_id == rid))
                self._audit(conn, tenant, rid, "delete", actor, at, {})
                deleted.append(rid)
            if deleted:
                self._bump_generation(conn, tenant)
        return deleted, unknown, removed_chunks

    def set_sources(self, tenant: str, sources: Mapping[str, str]) -> None:
        """Remember the file each record was last imported from (bookkeeping: no new version)."""
        r = t.records.c
        if not sources:
            return
        stmt = (sa.update(t.records).where(r.tenant == tenant, r.id == sa.bindparam("rid"),
                                           r.source != sa.bindparam("src")).values(source=sa.bindparam("src")))
        with self.engine.begin() as conn:  # one statement, executed for many rows
            conn.execute(stmt, [{"rid": rid, "src": src} for rid, src in sources.items()])

    def sourced(self, tenant: str, prefix: str) -> list[tuple[str, str, str]]:
        """``(id, kind, source)`` of the live records imported from ``prefix`` (a file, or a folder
        with its trailing separator)."""
        r = t.records.c
        folder = prefix.endswith(("/", "\\"))
        where = r.source.startswith(prefix, autoescape=True) if folder else r.source == prefix
        q = sa.select(r.id, r.kind, r.source).where(r.tenant == tenant, r.deleted == sa.false(), where)
        with self.engine.connect() as conn:
            return [(row.id, row.kind, row.source) for row in conn.execute(q.order_by(r.id))]

    def audit(self, tenant: str, record_id: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(t.audit_log).where(t.audit_log.c.tenant == tenant).order_by(t.audit_log.c.seq)
        if record_id:
            q = q.where(t.audit_log.c.record_id == record_id)
        with self.engine.connect() as conn:
            return [{**r._asdict(), "detail": json.loads(r.detail)} for r in conn.execute(q)]

    def versions(self, tenant: str, record_id: str) -> list[dict[str, Any]]:
        q = (sa.select(t.record_versions)
             .where(t.record_versions.c.tenant == tenant, t.record_versions.c.id == record_id)
             .order_by(t.record_versions.c.version))
        with self.engine.connect() as conn:
            return [{**r._asdict(), "data": json.loads(r.data)} for r in conn.execute(q)]

    def note(self, tenant: str, record_id: str, action: str, actor: str, detail: dict[str, Any]) -> None:
        """An audit entry for a decision that is not itself a write (a review's approve, reject, merge)."""
        with self.engine.begin() as conn:
            self._audit(conn, tenant, record_id, action, actor, now_iso(), detail)

    # the mark of a version written by a file import, in the detail of its write's audit entry
    IMPORTED = "imported"
    # the actor of imports that predate the mark (the command line's import)
    LEGACY_IMPORT_ACTOR = "import"

    def write_import(self, tenant: str, writes: Sequence[RecordWrite], *, actor: str,
                     overwrote: Mapping[str, dict[str, Any]] | None = None) -> WriteResult:
        """``write`` for a file import, in one transaction: each write's audit entry is marked
        ``"imported": true`` (what ``import_state`` finds as a record's last import), and each record
        of ``overwrote`` gets an ``overwrite_reviewed`` audit entry with that detail (an import that
        replaced a version written in review since the record's last import, on purpose)."""
        res = WriteResult()
        at = now_iso()
        a = t.audit_log.c
        with self._chunk_write() as conn:
            for w in writes:
                rid = str(w.record["id"])
                self._write_one(conn, tenant, w, actor, at, res)
                row = conn.execute(sa.select(a.seq, a.detail).where(a.tenant == tenant, a.record_id == rid)
                                   .order_by(a.seq.desc()).limit(1)).first()
                if row is not None:
                    detail = {**json.loads(row.detail), self.IMPORTED: True}
                    conn.execute(sa.update(t.audit_log).where(a.seq == row.seq)
                                 .values(detail=json.dumps(detail, ensure_ascii=False)))
                if overwrote and rid in overwrote:
                    self._audit(conn, tenant, rid, "overwrite_reviewed", actor, at, dict(overwrote[rid]))
            if res.chunks_added or res.chunks_removed:
                self._bump_generation(conn, tenant)
        return res

    def import_state(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """For each of ``ids`` that exists and is not deleted: its current version (``version``,
        ``content_hash``, and the ``actor`` and ``at`` of that version) and its last import
        (``imported_version``, ``imported_hash``): the latest version whose audit entry carries the
        import mark (``write_import``); for records written before the mark existed, the latest
        version by the command line's import actor, else the first version."""
        out: dict[str, dict[str, Any]] = {}
        r, v, a = t.records.c, t.record_versions.c, t.audit_log.c
        with self.engine.connect() as conn:
            for rid in ids:
                cur = conn.execute(sa.select(r.version, r.content_hash, r.deleted)
                                   .where(r.tenant == tenant, r.id == rid)).first()
                if cur is None or cur.deleted:
                    continue
                vers = {row.version: row for row in conn.execute(
                    sa.select(v.version, v.content_hash, v.actor, v.at).where(v.tenant == tenant, v.id == rid))}
                imported = None
                for row in conn.execute(sa.select(a.detail).where(
                        a.tenant == tenant, a.record_id == rid, a.detail.like(f'%"{self.IMPORTED}": true%'))
                        .order_by(a.seq.desc())):
                    version = json.loads(row.detail).get("version")
                    if version in vers:
                        imported = version
                        break
                if imported is None:
                    legacy = [n for n, row in vers.items() if row.actor == self.LEGACY_IMPORT_ACTOR]
                    imported = max(legacy) if legacy else min(vers, default=None)
                now = vers.get(cur.version)
                out[rid] = {"version": cur.version, "content_hash": cur.content_hash,
                            "actor": now.actor if now is not None else "", "at": now.at if now is not None else "",
                            "imported_version": imported,
                            "imported_hash": vers[imported].content_hash if imported is not None else None}
        return out

    @staticmethod
    def _audit(conn: Connection, tenant: str, rid: str, action: str, actor: str, at: str,
               detail: dict[str, Any]) -> None:
        conn.execute(sa.insert(t.audit_log).values(
            tenant=tenant, record_id=rid, action=action, actor=actor, at=at,
            detail=json.dumps(detail, ensure_ascii=False)))

    # ---- chunks --------------------------------------------------------------------------------

    def chunks(self, tenant: str, *, space: str | None = None, keyword: bool | None = None) -> list[Chunk]:
        """The tenant's chunks; ``space`` / ``keyword`` select those of one vector space / the keyword index."""
        c = t.chunks.c
        q = sa.select(*_CHUNK_COLUMNS).where(c.tenant == tenant).order_by(c.chunk_id)
        if space is not None:
            q = q.where(c.space == space)
        if keyword is not None:
            q = q.where(c.keyword == (sa.true() if keyword else sa.false()))
        with self.engine.connect() as conn:
            return [_row_to_chunk(r) for r in conn.execute(q)]

    def chunk_tokens(self, tenant: str) -> list[tuple[Chunk, list[str]]]:
        """The chunks of the keyword index with their stored tokens. Tokens are interned: a library's
        chunks hold millions of tokens but only tens of thousands of distinct ones, and one string
        object per occurrence took 355 MB more at the peak of a 120k-chunk keyword rebuild."""
        c = t.chunks.c
        q = sa.select(t.chunks).where(c.tenant == tenant, c.keyword == sa.true()).order_by(c.chunk_id)
        intern = sys.intern
        with self.engine.connect() as conn:
            return [(_row_to_chunk(r), [intern(tok) for tok in r.tokens.split()]) for r in conn.execute(q)]

    def chunks_of(self, tenant: str, record_ids: Sequence[str], section: str) -> dict[str, Chunk]:
        """``record id -> its first chunk of section``."""
        with self.engine.connect() as conn:
            rows = conn.execute(_CHUNKS_OF, {"tenant": tenant, "ids": list(record_ids), "section": section})
            return {r.record_id: _row_to_chunk(r) for r in rows}

    def section_chunks(self, tenant: str, places: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Chunk]:
        """``(record id, heading path) -> the first body chunk under that heading``."""
        if not places:
            return {}
        c = t.chunks.c
        q = (sa.select(*_CHUNK_COLUMNS)
             .where(c.tenant == tenant, c.section == "body", c.record_id.in_({r for r, _ in places}),
                    c.heading.in_({h for _, h in places}))
             .order_by(c.ordinal.desc()))
        with self.engine.connect() as conn:
            found = {(r.record_id, r.heading): _row_to_chunk(r) for r in conn.execute(q)}
        return {p: found[p] for p in places if p in found}

    def chunks_by_id(self, tenant: str, ids: Sequence[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(_CHUNKS_BY_ID, {"tenant": tenant, "ids": list(ids[i : i + 500])})
                out.update({r.chunk_id: _row_to_chunk(r) for r in rows})
        return out

    # ---- embedding cache -----------------------------------------------------------------------

    def get_vectors(self, model_id: str, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(text_hashes), 500):
                q = sa.select(t.embeddings.c.text_hash, t.embeddings.c.vector).where(
                    t.embeddings.c.model == model_id, t.embeddings.c.text_hash.in_(text_hashes[i : i + 500]))
                out.update({r.text_hash: np.frombuffer(r.vector, dtype=np.float32) for r in conn.execute(q)})
        return out

    def put_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        with self.engine.begin() as conn:
            self._put_vectors(conn, model_id, vectors)

    @staticmethod
    def _put_vectors(conn: Connection, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        if not vectors:
            return
        have = set()
        keys = list(vectors)
        for i in range(0, len(keys), 500):
            have |= set(conn.execute(sa.select(t.embeddings.c.text_hash).where(
                t.embeddings.c.model == model_id, t.embeddings.c.text_hash.in_(keys[i : i + 500]))).scalars())
        rows = [{"model": model_id, "text_hash": h, "vector": np.asarray(v, dtype=np.float32).tobytes()}
                for h, v in vectors.items() if h not in have]
        if rows:
            conn.execute(sa.insert(t.embeddings), rows)

    # ---- answers -------------------------------------------------------------------------------

    def log_answer(self, tenant: str, row: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.answers.insert(), {"tenant": tenant, "created_at": now_iso(), **row})

    def answers(self, tenant: str, *, abstained: bool | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Recent answers, newest first; ``abstained=True`` gives the questions the library could not answer."""
        c = t.answers.c
        q = sa.select(t.answers).where(c.tenant == tenant).order_by(c.created_at.desc()).limit(limit)
        if abstained is not None:
            q = q.where(c.abstained == (sa.true() if abstained else sa.false()))
        with self.engine.connect() as conn:
            return [{**r._asdict(), "citations": json.loads(r.citations)} for r in conn.execute(q)]

    def answer(self, tenant: str, answer_id: str) -> dict[str, Any] | None:
        """One logged answer of the tenant, citations parsed; ``None`` when the tenant has no such answer."""
        c = t.answers.c
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(t.answers).where(c.tenant == tenant, c.id == answer_id)).first()
        return None if r is None else {**r._asdict(), "citations": json.loads(r.citations)}

    # ---- conversations -------------------------------------------------------------------------

    def add_turns(self, tenant: str, ticket_id: str, turns: Sequence[Mapping[str, Any]]) -> None:
        """Append turns (``role`` 'user' | 'assistant', ``text``, optional ``answer_id``) to a ticket's
        conversation, all in one transaction: a question is never stored without its answer."""
        at = now_iso()
        rows = []
        for turn in turns:
            role = turn.get("role")
            if role not in TURN_ROLES:
                raise InputError(f"a turn's role is 'user' or 'assistant', not {role!r}")
            rows.append({"tenant": tenant, "ticket_id": ticket_id, "role": role, "text": str(turn.get("text") or ""),
                         "answer_id": turn.get("answer_id") or None, "created_at": turn.get("created_at") or at})
        if rows:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t.turns), rows)

    def turns(self, tenant: str, ticket_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
        """The ticket's last ``limit`` turns, oldest first: ``{role, text, answer_id, created_at}``."""
        c = t.turns.c
        q = (sa.select(c.role, c.text, c.answer_id, c.created_at)
             .where(c.tenant == tenant, c.ticket_id == ticket_id).order_by(c.id.desc()).limit(max(limit, 0)))
        with self.engine.connect() as conn:
            rows = [r._asdict() for r in conn.execute(q)]
        return rows[::-1]

    # ---- drafts and review ---------------------------------------------------------------------

    def put_draft(self, tenant: str, ticket_id: str, *, status: str, case_id: str | None = None,
                  reason: str = "", payload: dict[str, Any] | None = None) -> None:
        """Record what drafting made of a ticket (replacing an earlier draft of the same ticket)."""
        at = now_iso()
        c = t.drafts.c
        row = {"case_id": case_id, "status": status, "reason": reason, "updated_at": at,
               "payload": json.dumps(payload or {}, ensure_ascii=False)}
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(t.drafts).where(c.tenant == tenant, c.ticket_id == ticket_id)
                                .values(**row)).rowcount
            if not done:
                conn.execute(sa.insert(t.drafts).values(tenant=tenant, ticket_id=ticket_id, created_at=at, **row))

    def set_draft_status(self, tenant: str, case_id: str, status: str, reason: str = "") -> None:
        c = t.drafts.c
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.drafts).where(c.tenant == tenant, c.case_id == case_id)
                         .values(status=status, reason=reason, updated_at=now_iso()))

    def drafts(self, tenant: str, *, status: str | None = None, ticket_id: str | None = None,
               case_id: str | None = None) -> list[dict[str, Any]]:
        """Drafts newest first, each with its payload parsed."""
        c = t.drafts.c
        q = sa.select(t.drafts).where(c.tenant == tenant).order_by(c.updated_at.desc(), c.ticket_id)
        if status is not None:
            q = q.where(c.status == status)
        if ticket_id is not None:
            q = q.where(c.ticket_id == ticket_id)
        if case_id is not None:
            q = q.where(c.case_id == case_id)
        with self.engine.connect() as conn:
            return [{**{k: v for k, v in r._asdict().items() if k != "tenant"}, "payload": json.loads(r.payload)}
                    for r in conn.execute(q)]

    def set_product_version(self, tenant: str, product: str, version: str) -> None:
        c = t.product_versions.c
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t.product_versions).where(c.tenant == tenant, c.product == product))
            conn.execute(sa.insert(t.product_versions).values(tenant=tenant, product=product, version=version,
                                                              updated_at=now_iso()))

    def product_versions(self, tenant: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.product: r.version for r in conn.execute(_PRODUCT_VERSIONS, {"tenant": tenant})}

    def citation_stats(self, tenant: str, record_id: str) -> dict[str, int]:
        """How often answers cited ``record_id``, and how agents rated those answers (newest rating each)."""
        a, f = t.answers.c, t.feedback.c
        quoted = json.dumps(record_id, ensure_ascii=False)
        escaped = quoted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        needle = f'%"id": {escaped}%'
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(a.id, a.citations).where(a.tenant == tenant,
                                                                   a.citations.like(needle, escape="\\")))
            # LIKE narrows the rows (and ignores ASCII case in SQLite); the exact test is on the JSON
            ids = [r.id for r in rows if any(c.get("id") == record_id for c in json.loads(r.citations))]
            ratings: dict[str, bool] = {}
            if ids:
                for r in conn.execute(sa.select(f.answer_id, f.helpful).where(f.tenant == tenant, f.answer_id.in_(ids))
                                      .order_by(f.id)):
                    ratings[r.answer_id] = bool(r.helpful)
        return {"cited": len(ids), "helpful": sum(ratings.values()),
                "not_helpful": sum(not v for v in ratings.values())}

    # ---- feedback ------------------------------------------------------------------------------

    def add_feedback(self, tenant: str, answer_id: str, helpful: bool, comment: str = "") -> dict[str, Any]:
        """Rate a logged answer of this tenant (every rating is kept; the newest is the current one).
        Raises ``NotFound`` for an answer id the tenant does not have."""
        if not isinstance(helpful, bool):
            raise InputError("helpful is true or false")
        comment = (comment or "").strip()
        if len(comment) > MAX_COMMENT_CHARS:
            raise InputError(f"the comment is {len(comment)} characters; the limit is {MAX_COMMENT_CHARS}")
        from ..redact import redact  # a rating's comment never needs a customer's personal data

        comment = redact(comment).text
        row = {"tenant": tenant, "answer_id": answer_id, "helpful": helpful, "comment": comment,
               "created_at": now_iso()}
        ac = t.answers.c
        with self.engine.begin() as conn:
            known = conn.execute(sa.select(ac.id).where(ac.tenant == tenant, ac.id == answer_id)).first()
            if known is None:
                raise NotFound(f"no answer {answer_id!r} in tenant {tenant!r}")
            fid = conn.execute(sa.insert(t.feedback).values(**row)).inserted_primary_key
        return {"id": fid[0] if fid else None, **{k: v for k, v in row.items() if k != "tenant"}}

    def feedback(self, tenant: str, *, answer_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Ratings, newest first, each with its answer's question, answer text, citations, engine and ticket."""
        f, a = t.feedback.c, t.answers.c
        q = (sa.select(f.id, f.answer_id, f.helpful, f.comment, f.created_at, a.question, a.answer, a.citations,
                       a.engine, a.ticket_id, a.abstained)
             .select_from(t.feedback.join(t.answers, sa.and_(a.id == f.answer_id, a.tenant == f.tenant)))
             .where(f.tenant == tenant).order_by(f.id.desc()).limit(max(limit, 0)))
        if answer_id is not None:
            q = q.where(f.answer_id == answer_id)
        with self.engine.connect() as conn:
            return [{**r._asdict(), "helpful": bool(r.helpful), "abstained": bool(r.abstained),
                     "citations": json.loads(r.citations)} for r in conn.execute(q)]

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

    # ---- index bookkeeping ---------------------------------------------------------------------

    def _bump_generation(self, conn: Connection, tenant: str) -> None:
        cur = self._get_state(conn, tenant, "generation")
        self._set_state(conn, tenant, "generation", str(int(cur or 0) + 1))

    def generation(self, tenant: str) -> int:
        with self.engine.connect() as conn:
            return int(self._get_state(conn, tenant, "generation") or 0)

    def get_state(self, tenant: str, key: str) -> str | None:
        with self.engine.connect() as conn:
            return self._get_state(conn, tenant, key)

    def get_states(self, tenant: str, keys: Sequence[str]) -> dict[str, str]:
        """Several of ``get_state`` in one query (absent keys are left out)."""
        with self.engine.connect() as conn:
            return {r.key: r.value for r in conn.execute(_STATES, {"tenant": tenant, "keys": list(keys)})}

    def set_state(self, tenant: str, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            self._set_state(conn, tenant, key, value)

    @staticmethod
    def _get_state(conn: Connection, tenant: str, key: str) -> str | None:
        return conn.execute(sa.select(t.index_state.c.value).where(
            t.index_state.c.tenant == tenant, t.index_state.c.key == key)).scalar()

    @staticmethod
    def _set_state(conn: Connection, tenant: str, key: str, value: str) -> None:
        c = t.index_state.c
        n = conn.execute(sa.update(t.index_state).where(c.tenant == tenant, c.key == key).values(value=value)).rowcount
        if not n:
            conn.execute(sa.insert(t.index_state).values(tenant=tenant, key=key, value=value))


def _tokens_of(ch: Chunk) -> list[str]:
    """Keyword tokens are computed once, when a chunk is stored, so rebuilding the keyword index
    from the store costs no re-tokenisation."""
    return keyword_tokens(ch.index_text, normalised=True)

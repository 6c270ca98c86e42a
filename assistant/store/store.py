"""The relational store: the source of truth for records, their versions, the audit log, chunks and
the embedding cache. The vector and keyword indexes are derived from it and can be rebuilt from it.

``Store`` is the composition of one small mixin per concern, each in its module: records, versions
and audit (``records``), import bookkeeping (``imports``), chunks, index state and the embedding
cache (``chunks``), answers, conversations and feedback (``answers``), raters' ratings and opened
records as the ratings' prior reads them (``ratings``), drafts and product versions (``drafts``), tag
taxonomies (``taxonomies``), curated answers (``curated``), the desk's aggregate reads (``desk``).
Consumers type against the narrow Protocols those modules declare where they need only one concern.

SQLite (WAL, busy timeout) by default; any SQLAlchemy URL (PostgreSQL) works the same. The schema is
created and upgraded in place by Alembic migrations when the store is opened.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import sqlalchemy as sa

from ..errors import BackendError
from .answers import AnswerStore
from .chunks import WriteResult
from .curated import CuratedStore
from .desk import DeskStore
from .drafts import DraftStore
from .engine import _migrations_dir, make_engine, now_iso, upgrade_schema
from .imports import ImportStore
from .locks import advisory_lock, file_lock
from .ratings import RatingStore
from .records import RecordWrite, StoredRecord
from .taxonomies import TaxonomyStore

__all__ = ["RecordWrite", "Store", "StoredRecord", "WriteResult", "_migrations_dir", "make_engine", "now_iso",
           "upgrade_schema"]


class Store(ImportStore, AnswerStore, RatingStore, DraftStore, TaxonomyStore, CuratedStore, DeskStore):
    """The store: one database engine, the methods of every concern. The API keeps its own tables
    (keys, bots, import jobs) in ``api.store`` on the same engine."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        # chunk writes through this store that have finished (committed or not): a cache of chunks read
        # during one is dropped at the next read (``assistant.retrieval.Retriever``)
        self.chunk_writes = 0
        try:
            self.engine = make_engine(url)
            if migrate:
                upgrade_schema(self.engine)
        except sa.exc.SQLAlchemyError as e:
            raise BackendError("database", f"cannot open {url}: {e}") from e

    def close(self) -> None:
        if self.answer_queue is not None:  # answers still queued are written first
            self.answer_queue.close()
        self.engine.dispose()

    @property
    def shared(self) -> bool:
        """A database server that several hosts may share (PostgreSQL), not a file of this host."""
        return self.engine.dialect.name == "postgresql"

    def writer_lock(self, tenant: str, lock_file: Path) -> AbstractContextManager[None]:
        """The tenant's write lock across processes and hosts: an advisory lock when the database is
        shared, else ``lock_file`` (SQLite lives on one host)."""
        return advisory_lock(self.engine, f"tenant-write:{tenant}") if self.shared else file_lock(lock_file)

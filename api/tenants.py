"""One ``Library`` and ``Assistant`` per tenant, opened on first use and kept for the process.

The library is not designed for concurrent mutation, so each tenant has a readers-writer lock:

* **writes** (imports, drafting, review decisions, archive) take it exclusively, and also an
  exclusive ``flock`` on ``CASEPILOT_HOME/locks/<tenant>.lock`` (SQLite), or the tenant's advisory
  lock in PostgreSQL, so that writers in other worker processes, or on other hosts, wait too;
* **reads** (search, ask, chat) share it: concurrent reads are safe (tests/test_api_concurrency.py:
  identical answers from 8 threads as from one). The one
  thing a read may mutate is the keyword index reloading a build that another process published, or
  an index repair; before each read that state is checked, and when it moved the reload / repair runs
  under the write lock, so readers never see a half-swapped index;
* another process's writes are caught up with before a read or a write (``Tenants.reopen``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from chromadb.api.client import SharedSystemClient

from assistant.answering import Assistant
from assistant.embeddings import CachingEmbedder, Embedder, make_embedder
from assistant.index.filters import Filters
from assistant.library import Library
from assistant.settings import Settings
from assistant.store import Store
from assistant.types import SearchHit
from assistant.warmup import warm

from .store import HttpStore

if TYPE_CHECKING:
    from .metrics import Metrics

log = logging.getLogger("casepilot.api")


class RWLock:
    """Many readers or one writer; a waiting writer holds new readers back. Not re-entrant. May be
    released from another thread than the one that acquired it (streams run in a thread pool)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @property
    def readers(self) -> int:
        return self._readers

    def wait_for_writers(self) -> None:
        """Return once no writer holds the lock or waits for it (without taking it)."""
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class InstrumentedLibrary(Library):
    """A library whose searches are timed into the retrieval-latency histogram. While a read of its
    tenant is open (``reading``, the tenant's lock, has readers) a search does not check that the
    indexes are in sync: ``Tenant.read`` checked on entry, and this process cannot write the tenant
    until every read has ended. That was two more queries on every answer. Every search of the API
    runs inside a ``Tenant.read`` or ``Tenant.write``; inside a write there are no readers, so it
    checks."""

    metrics: Metrics | None = None
    reading: RWLock | None = None

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> list[SearchHit]:
        t0 = time.perf_counter()
        try:
            if self.reading is not None and self.reading.readers:
                return self.retriever.retrieve(query, k, filters)
            return super().search(query, k, filters)
        finally:
            if self.metrics is not None:
                self.metrics.retrieval.observe(time.perf_counter() - t0)


class Tenant:
    def __init__(self, name: str, library: InstrumentedLibrary, tenants: Tenants) -> None:
        self.name = name
        self.library = library
        self.assistant = Assistant(library)
        self.tenants = tenants
        self._lock = RWLock()
        library.reading = self._lock
        self.seen = library.store.generation(name)  # the store generation this process's indexes reflect
        self._writing = 0  # writes of this process in progress: the generation they move is not foreign

    def _foreign(self) -> bool:
        """Another process changed this tenant's chunks since this process last looked. While this
        process is writing the tenant, the moving generation is its own (and reopening Chroma then
        would stall every tenant's readers until the write ends)."""
        return not self._writing and self.library.store.generation(self.name) != self.seen

    def _needs_sync(self) -> bool:
        """Another process changed this tenant, or an index is behind the store (one query)."""
        lib = self.library
        if lib.keywords.behind():  # another process published a keyword build
            return True
        gen, synced = lib.indexes.check()
        return not synced or (not self._writing and gen != self.seen)

    @contextmanager
    def read(self) -> Iterator[Library]:
        # a read waits out this tenant's writer (an import may take minutes) before it takes one of the
        # process's read slots: waiting in a slot, it would keep other tenants' reads from their turn
        self._lock.wait_for_writers()
        with self.tenants.slots:  # checked once a slot is free, not before a wait another process may write in
            if self._needs_sync():
                with self.write() as lib:
                    lib.indexes.ensure_synced()
            with self.tenants.chroma_lock.read(), self._lock.read():
                yield self.library

    @contextmanager
    def write(self) -> Iterator[Library]:
        """Exclusive, in this process (the tenant's lock) and across processes (flock). Entered only
        once this process's vector collections show every other process's writes (see Tenants.reopen)."""
        while True:
            if self._foreign():
                self.tenants.reopen()
            stack = ExitStack()
            stack.enter_context(self.tenants.chroma_lock.read())
            stack.enter_context(self._lock.write())
            stack.enter_context(self.library.write_lock())
            if not self._foreign():
                break
            stack.close()  # another process wrote in between: reopen and try again
        self._writing += 1
        try:
            self.library.keywords.refresh()
            yield self.library
        finally:
            try:
                self.seen = self.library.store.generation(self.name)
            finally:
                self._writing -= 1
                stack.close()


class Tenants:
    """The process's tenants. The embedding models and the store are shared by every tenant's library;
    the embedding cache too, but each tenant sees only its own entries in it (``CachingEmbedder.scoped``).

    Chroma's local ``PersistentClient`` keeps each collection's HNSW index in memory and does not see
    vectors that another process added (measured: ``count()`` does, ``query()`` does not, until the
    client's system is rebuilt). So when a tenant's store generation moved without this process, every
    library drops its Chroma client and collections (``reopen``), under ``chroma_lock`` held
    exclusively, before anything reads or writes vectors again. With a Chroma server
    (``CASEPILOT_CHROMA_URL``) there is nothing to reopen."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None, max_reads: int = 0) -> None:
        self.settings = settings
        self.slots = threading.BoundedSemaphore(max_reads or os.cpu_count() or 2)
        self.metrics = metrics
        settings.home.mkdir(parents=True, exist_ok=True)
        self.store = Store(settings.db_url)
        self.store.defer_answer_log()  # answers are sent before they are logged (assistant/store/answer_queue.py)
        self.http = HttpStore(self.store)  # the API's own tables: keys, bots, import jobs
        self._tenants: dict[str, Tenant] = {}
        self._lock = threading.Lock()
        self._embedders: dict[str, Embedder] | None = None
        self.chroma_lock = RWLock()
        self.reopened = 0

    def reopen(self) -> None:
        with self.chroma_lock.write():
            with self._lock:
                tenants = list(self._tenants.values())
            if not any(t._foreign() for t in tenants):
                return  # caught up meanwhile (e.g. the change was this process's own write, now finished)
            if self.settings.chroma_url is None:
                SharedSystemClient.clear_system_cache()
                self.reopened += 1
            for t in tenants:
                t.library.reopen_vectors()
                t.seen = t.library.store.generation(t.name)
            log.info("reopened the vector store after another process wrote to it")

    def _shared_embedders(self, tenant: str) -> dict[str, Any]:
        """One model (and one embedding cache) per process, seen by each tenant through a view of the
        cache scoped to it: a tenant must not learn from a cache hit's speed what another asked."""
        if self._embedders is None:
            s = self.settings
            self._embedders = {"embedder": make_embedder(s.embedder, s.embed_cache_entries)}
            if s.passage_embedder:
                self._embedders["passage_embedder"] = make_embedder(s.passage_embedder, s.embed_cache_entries)
        return {k: e.scoped(tenant) if isinstance(e, CachingEmbedder) else e for k, e in self._embedders.items()}

    def _open(self, tenant: str) -> InstrumentedLibrary:
        lib = InstrumentedLibrary(self.settings, tenant, store=self.store, **self._shared_embedders(tenant))
        lib.metrics = self.metrics
        return lib

    def get(self, tenant: str, *, warm_up: bool = False) -> Tenant:
        """The tenant's library and assistant, opened at first use; with ``warm_up`` (a worker's start)
        its vector indexes load beside the models and the keyword index (``assistant.warmup``)."""
        t = self._tenants.get(tenant)
        if t is not None:
            return t
        with self._lock:
            t = self._tenants.get(tenant)
            if t is None:
                lib = warm(self.settings, tenant, lambda: self._open(tenant))[0] if warm_up \
                    else self._open(tenant)
                # open everything now, under the lock, rather than racing on first use in two threads
                _ = lib.retriever, lib.indexes, lib.taxonomy
                t = Tenant(tenant, lib, self)
                self._tenants[tenant] = t
                if self.metrics is not None:
                    self.metrics.tenants.set(len(self._tenants))
        return t

    def close(self) -> None:
        self.store.close()


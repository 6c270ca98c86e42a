"""Vector stores. ``ChromaVectorStore``: a local ``PersistentClient`` under ``CASEPILOT_HOME``, or an
``HttpClient`` to a Chroma server. One collection per tenant; vectors are always passed in (Chroma's
default embedding function downloads a model at run time, so it is never used)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import httpx
import numpy as np

from ..errors import BackendError, ConfigError
from ..types import Chunk
from .filtered_copy import FilteredCopy, best, unit, unit_rows
from .filters import Allowed, Catalogue, Filters

log = logging.getLogger(__name__)


class VectorStore(Protocol):
    model_id: str

    def ids(self) -> set[str]: ...

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None: ...

    def delete(self, ids: Sequence[str]) -> None: ...

    def query(self, vector: np.ndarray, n: int, filters: Filters,
              allowed: Allowed | None = None) -> list[tuple[str, float]]: ...


def collection_name(tenant: str, space: str = "") -> str:
    """Chroma names allow [a-zA-Z0-9._-]; tenants may be any text, so keep a readable part plus a hash."""
    slug = re.sub(r"[^a-zA-Z0-9_-]+", "-", tenant).strip("-_")[:40] or "t"
    return f"cp-{slug}-{hashlib.sha1(tenant.encode()).hexdigest()[:8]}" + (f"-{space}" if space else "")


@contextlib.contextmanager
def reachable(collection: str) -> Iterator[None]:
    """A Chroma server that went away (connection refused or dropped) is a backend error, not a bug."""
    try:
        yield
    except httpx.TransportError as e:
        raise BackendError("chroma", f"the Chroma server is unreachable ({collection}): {e}") from e


def chroma_client(path: Path | None = None, url: str | None = None) -> Any:
    # lazy: chromadb costs 0.37 s at import and only index access needs it
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    try:
        if url:
            u = urlparse(url)
            return chromadb.HttpClient(host=u.hostname or "localhost", port=u.port or 8000,
                                       ssl=u.scheme == "https", settings=settings)
        assert path is not None
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=settings)
    except Exception as e:  # chromadb raises a variety of types here
        raise BackendError("chroma", f"cannot open the vector store ({url or path}): {e}") from e


def preload(client: Any, name: str) -> None:
    """Have Chroma load collection ``name``'s HNSW index now (nothing when it is missing or empty).
    Reading a stored vector loads it in Chroma's native code without the GIL; ``count()`` would load
    it too, holding the GIL all along (measured: 7.5 s of a loaded machine at 520,000 vectors, during
    which no other thread ran), so it is not asked first, and a collection small enough for an
    ``ExactCopy`` has its index (at most ``exact_search_limit`` vectors) loaded too."""
    try:
        col = client.get_collection(name)
    except Exception:  # chromadb raises a variety of types for a missing collection: nothing to load
        return
    with reachable(name):
        got = col.get(limit=1, include=["embeddings"])["embeddings"]
        if got is not None and len(got):
            col.query(query_embeddings=[np.asarray(got[0], dtype=np.float32)], n_results=1, include=[])


class ExactCopy:
    """A small collection's vectors and filterable metadata in memory, searched exactly: one
    matrix-vector product and a filter mask. Below about 10,000 vectors that is cheaper than a Chroma
    query, which has a fixed cost per query and runs one at a time per process."""

    def __init__(self, ids: Sequence[str], vectors: np.ndarray, metas: Sequence[dict[str, Any]]) -> None:
        self.ids = list(ids)
        m = np.asarray(vectors, dtype=np.float32)
        m = m.reshape(len(self.ids), -1) if self.ids else np.zeros((0, 1), dtype=np.float32)
        self.matrix = unit_rows(m)
        self.catalogue = Catalogue(metas)
        self._masks: dict[Filters, np.ndarray | None] = {}

    def _mask(self, filters: Filters) -> np.ndarray | None:
        if filters in self._masks:
            return self._masks[filters]
        mask = self.catalogue.mask(filters)
        got = None if mask.all() else mask
        if len(self._masks) > 64:
            self._masks.clear()
        self._masks[filters] = got  # searches of several threads may share this copy
        return got

    def query(self, vector: np.ndarray, n: int, filters: Filters) -> list[tuple[str, float]]:
        """The ``n`` chunks most cosine-similar to ``vector`` among those that pass ``filters``."""
        if not self.ids or n <= 0:
            return []
        sims = self.matrix @ unit(vector)
        mask = self._mask(filters)
        passing = len(self.ids)
        if mask is not None:
            passing = int(mask.sum())
            sims = np.where(mask, sims, -np.inf)
        k = min(n, passing)
        if k <= 0:
            return []
        return [(self.ids[i], float(sims[i])) for i in best(sims, k)]


class ChromaVectorStore:
    """One tenant's collection for one vector space. The embedding model id is stored in the
    collection's metadata; opening it with another model is refused, since the vectors would not be
    comparable.

    A collection of at most ``exact_limit`` vectors is queried through an ``ExactCopy`` loaded from
    it, which is reloaded after every write through this store and whenever ``version()`` (the
    generation of the indexes this process has loaded) moves, i.e. when another process wrote.

    A larger collection of at most ``filter_limit`` vectors keeps a ``FilteredCopy`` for the searches
    whose filter passes at most ``SELECTIVE`` of the records: loaded by a background thread at the
    first such search, and again after writes (the same key as the exact copy's, at most every
    ``RELOAD_PAUSE`` seconds); while it is missing or stale they go through Chroma."""

    BATCH = 1000
    OVERFETCH = 2  # neighbours fetched per wanted one, divided by the share of records a filter passes
    MAX_OVERFETCH = 1000  # beyond this, Chroma's own filter is cheaper
    PAGE = 1000  # vectors per read when loading the exact copy
    SELECTIVE = 0.5  # a filter passing at most this share of records is searched in the filtered copy
    RELOAD_PAUSE = 30.0  # seconds between two loads of the filtered copy (a long import writes often)

    def __init__(self, client: Any, tenant: str, model_id: str, space: str = "", *, exact_limit: int = 0,
                 filter_limit: int = 0, version: Callable[[], object] | None = None) -> None:
        self.client = client
        self.model_id = model_id
        self.name = collection_name(tenant, space)
        self.tenant = tenant
        self.space = space
        self.exact_limit = exact_limit
        self.version = version or (lambda: None)
        self._writes = 0  # counted once each write has finished: a copy loaded during one is not kept
        self._exact: tuple[object, ExactCopy | None] | None = None  # (key, copy or None: too large)
        self.filter_limit = filter_limit
        self._filtered: tuple[object, FilteredCopy | None] | None = None  # as _exact
        self._loading: tuple[int, threading.Event] | None = None  # (pid, set when loaded) of a running load
        self._loaded_at = -math.inf  # time.monotonic() when the last load finished
        self._copy_lock = threading.Lock()
        try:
            self.col = client.get_or_create_collection(
                self.name,
                metadata={"hnsw:space": "cosine", "embedding_model": model_id, "tenant": tenant,
                          "vector_space": space or "default"},
                embedding_function=None,
            )
        except Exception as e:
            raise BackendError("chroma", f"cannot open collection {self.name}: {e}") from e
        stored = (self.col.metadata or {}).get("embedding_model")
        if stored and stored != model_id:
            var = "CASEPILOT_PASSAGE_EMBEDDER" if space == "passage" else "CASEPILOT_EMBEDDER"
            raise ConfigError(
                f"the {space or 'vector'} index of tenant {tenant!r} was built with embedding model {stored!r}, "
                f"but {model_id!r} is configured. Set {var} back, or rebuild the index "
                f"with the new model: casepilot reindex --tenant {tenant}"
            )

    @classmethod
    def recreate(cls, client: Any, tenant: str, model_id: str, space: str = "", **options: Any) -> ChromaVectorStore:
        """Drop the tenant's collection (whatever model built it) and start an empty one."""
        with contextlib.suppress(Exception):
            client.delete_collection(collection_name(tenant, space))  # absent: nothing to drop
        return cls(client, tenant, model_id, space, **options)

    def exact(self) -> ExactCopy | None:
        """The in-memory copy to query, or None when the collection holds more than ``exact_limit``
        vectors (or the copy is turned off). Loading it reads the collection once."""
        if self.exact_limit <= 0:
            return None
        key = (self.version(), self._writes)
        state = self._exact
        if state is not None and state[0] == key:
            return state[1]
        copy = None
        if self.count() <= self.exact_limit:
            ids, metas, vectors = self._pages(["embeddings", "metadatas"], self.exact_limit)
            copy = ExactCopy(ids, vectors, metas)
        self._exact = (key, copy)
        return copy

    def _pages(self, include: list[str], limit: int) -> tuple[list[str], list[dict[str, Any]], np.ndarray]:
        """The collection's ids, metadata (when included) and float32 vectors, read in pages
        (Chroma's reply for 10,000 vectors at once held ~150 MB of RSS), stopping once more than
        ``limit`` were read. The vectors go straight into one array sized by the collection's count
        (grown if writes added more meanwhile), so that loading holds them once, not twice."""
        ids: list[str] = []
        metas: list[dict[str, Any]] = []
        out = np.zeros((0, 1), np.float32)
        rows = min(self.count(), limit + self.PAGE)
        while True:
            with reachable(self.name):
                got = self.col.get(include=include, limit=self.PAGE, offset=len(ids))
            if got["ids"]:
                page = np.asarray(got["embeddings"], dtype=np.float32).reshape(len(got["ids"]), -1)
                if len(out) < len(ids) + len(page) or out.shape[1] != page.shape[1]:
                    grown = np.empty((max(rows, len(ids) + len(page)), page.shape[1]), np.float32)
                    grown[: len(ids)] = out[: len(ids)]
                    out = grown
                out[len(ids) : len(ids) + len(page)] = page
                ids.extend(got["ids"])
                metas.extend(got.get("metadatas") or [])
            if len(got["ids"]) < self.PAGE or len(ids) > limit:
                return ids, metas, out[: len(ids)]

    def filtered_copy(self) -> FilteredCopy | None:
        """The copy for selective filters when one is loaded and current, else None; a load is then
        started in the background (at most one per process at a time, and ``RELOAD_PAUSE`` after the
        last one: during an import every write would make the copy stale again)."""
        if self.filter_limit <= 0:
            return None
        key = (self.version(), self._writes)
        with self._copy_lock:
            state = self._filtered
            if state is not None and state[0] == key:
                return state[1]
            if self._loading is not None and self._loading[0] == os.getpid():  # a forked child has no loader
                return None
            if time.monotonic() - self._loaded_at < self.RELOAD_PAUSE:
                return None
            self._loading = (os.getpid(), threading.Event())
            done = self._loading[1]
        threading.Thread(target=self._load_filtered, args=(key, done), daemon=True,
                         name="casepilot-vector-copy").start()
        return None

    def _load_filtered(self, key: object, done: threading.Event) -> None:
        copy = None
        try:
            if self.exact_limit < self.count() <= self.filter_limit:  # smaller: the exact copy answers
                ids, _, vectors = self._pages(["embeddings"], self.filter_limit)
                if len(ids) <= self.filter_limit:
                    copy = FilteredCopy(ids, vectors)
        except Exception as e:  # a search goes on through Chroma; the next write's key tries again
            log.warning("cannot load the filtered copy of %s: %s", self.name, e)
        with self._copy_lock:
            self._filtered = (key, copy)
            self._loading = None
            self._loaded_at = time.monotonic()
        done.set()

    def wait_for_copy(self, timeout: float) -> bool:
        """Start loading the filtered copy if it is due and wait for it (the benchmark's warm-up);
        True when a current copy is ready."""
        if self.filtered_copy() is None and (loading := self._loading) is not None:
            loading[1].wait(timeout)
        return self.filtered_copy() is not None

    def ids(self) -> set[str]:
        out: set[str] = set()
        offset = 0
        while True:
            with reachable(self.name):
                got = self.col.get(include=[], limit=10_000, offset=offset)["ids"]
            out.update(got)
            if len(got) < 10_000:
                return out
            offset += len(got)

    def count(self) -> int:
        with reachable(self.name):
            return int(self.col.count())

    def upsert(self, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        try:
            for i in range(0, len(chunks), self.BATCH):
                part = chunks[i : i + self.BATCH]
                with reachable(self.name):
                    self.col.upsert(ids=[c.id for c in part],
                                    embeddings=np.asarray(vectors[i : i + self.BATCH], dtype=np.float32),
                                    documents=[c.index_text for c in part], metadatas=[c.metadata() for c in part])
        finally:
            self._writes += 1

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        try:
            for i in range(0, len(ids), self.BATCH):
                with reachable(self.name):
                    self.col.delete(ids=ids[i : i + self.BATCH])
        finally:
            self._writes += 1

    def documents(self, ids: Sequence[str]) -> dict[str, str]:
        with reachable(self.name):
            got = self.col.get(ids=list(ids), include=["documents"])
        return dict(zip(got["ids"], got["documents"] or [], strict=False))

    def _nearest(self, vec: list[np.ndarray], n: int, where: dict[str, Any] | None = None) -> list[tuple[str, float]]:
        with reachable(self.name):
            res = self.col.query(query_embeddings=vec, n_results=n, where=where, include=["distances"])
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], (res["distances"] or [[]])[0], strict=True)]

    def query(self, vector: np.ndarray, n: int, filters: Filters,
              allowed: Allowed | None = None) -> list[tuple[str, float]]:
        """The ``n`` nearest chunks that pass ``filters``: from the exact in-memory copy when the
        collection is small enough to have one (see ``exact``), otherwise from Chroma.

        Chroma's local build applies a ``where`` filter by materialising the allowed ids first, which
        costs ~0.5 s at 100k chunks even when nearly everything passes (the default "approved or
        published"), and returning metadata with the neighbours costs more than finding them. So, given
        ``allowed`` (which records pass, from the keyword index's catalogue), the filter is applied to
        an over-fetched list of neighbour ids: the first ``n`` that pass are exactly the ``n`` best that
        pass. A filter passing at most ``SELECTIVE`` of the records is searched exactly in the
        ``FilteredCopy`` once it is loaded. Chroma's own filter is used only when too few pass (a
        selective filter), or without ``allowed``."""
        exact = self.exact()
        if exact is not None:
            return exact.query(vector, n, filters)
        vec = [np.asarray(vector, dtype=np.float32)]
        where = filters.chroma_where()
        if where is None or (allowed is not None and allowed.records is None):
            return self._nearest(vec, n)
        if allowed is not None:
            if not allowed.records:
                return []
            copy = self.filtered_copy() if allowed.fraction <= self.SELECTIVE else None
            if copy is not None:
                return copy.query(vector, n, filters, allowed)
            over = min(math.ceil(n * self.OVERFETCH / allowed.fraction), self.MAX_OVERFETCH)
            hits = self._nearest(vec, over)
            passed = [h for h in hits if allowed.passes(h[0])]
            if len(passed) >= n or len(hits) < over:  # enough passed, or the collection had no more
                return passed[:n]
        return self._nearest(vec, n, where)

"""Query embeddings kept by the normalised question, so that a question asked again (agents ask the
same things all day) skips the embedding model.

A per-process LRU answers first; behind it the store's embedding cache table, which every worker
and every host on the same database shares, so a question one worker embedded costs the others a
primary-key read instead. New vectors are written to the store by a background thread, never on the
search's path, and the table keeps at most ``shared`` of them per model. Keys hold the tenant: a hit is
tens of milliseconds faster than a miss, which must not tell one tenant what another asked.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .embeddings import Embedder
from .store import Store

log = logging.getLogger(__name__)


def query_model(model_id: str) -> str:
    """The embedding cache table's model column for query vectors: apart from the chunks' vectors."""
    return f"query:{model_id}"


class QueryVectors:
    """One tenant's query vectors: ``entries`` in this process, ``shared`` per model in the store (0:
    none there; the process's LRU alone)."""

    TRIM_EVERY = 500  # vectors written between two checks of the table's size

    def __init__(self, store: Store, scope: str, *, entries: int = 4096, shared: int = 100_000) -> None:
        self.store = store
        self.scope = scope
        self.entries = entries
        self.shared = shared
        self._lru: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.shared_hits = self.misses = 0

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"query\0{self.scope}\0{text}".encode()).hexdigest()

    def embed(self, embedder: Embedder, text: str) -> np.ndarray:
        """``embedder``'s vector of the (normalised) question ``text``, from the first cache that has it."""
        key = (embedder.model_id, text)
        with self._lock:
            v = self._lru.get(key)
            if v is not None:
                self._lru.move_to_end(key)
                self.hits += 1
                return v
        model, h = query_model(embedder.model_id), self._key(text)
        v = self._read(model, h) if self.shared > 0 else None
        shared_hit = v is not None and v.shape == (embedder.dim,)
        if not shared_hit:
            v = embedder.embed_query(text)
            if self.shared > 0:
                _writer().put(self.store, model, h, v, self.shared)
        assert v is not None
        with self._lock:
            if shared_hit:
                self.shared_hits += 1
            else:
                self.misses += 1
            self._lru[key] = v
            while len(self._lru) > self.entries:
                self._lru.popitem(last=False)
        return v

    def embed_many(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        """``embed`` of many (normalised) questions: those no cache holds are embedded in one batch
        (``embed_questions``, the same space as ``embed_query``) and cached like the rest."""
        model = query_model(embedder.model_id)
        out: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                v = self._lru.get((embedder.model_id, text))
                if v is not None:
                    out[text] = v
        rest = [t for t in dict.fromkeys(texts) if t not in out]
        if rest and self.shared > 0:
            try:
                stored = self.store.get_vectors(model, [self._key(t) for t in rest])
            except Exception as e:  # a cache: embedding instead
                log.debug("query vector cache read failed: %s", e)
                stored = {}
            out.update({t: v for t in rest if (v := stored.get(self._key(t))) is not None
                        and v.shape == (embedder.dim,)})
            rest = [t for t in rest if t not in out]
        if rest:
            for t, v in zip(rest, embedder.embed_questions(rest), strict=True):
                out[t] = v
                if self.shared > 0:
                    _writer().put(self.store, model, self._key(t), v, self.shared)
        return np.stack([out[t] for t in texts]) if texts else np.zeros((0, embedder.dim), dtype=np.float32)

    def _read(self, model: str, h: str) -> np.ndarray | None:
        try:
            return self.store.get_vectors(model, [h]).get(h)
        except Exception as e:  # a cache: a store that cannot answer means embedding, never failing
            log.debug("query vector cache read failed: %s", e)
            return None


class _Writer:
    """The process's thread that writes new query vectors to the store, in batches; a full queue
    drops vectors (they are only a cache)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.queue: queue.Queue[tuple[Store, str, str, np.ndarray, int]] = queue.Queue(maxsize=1000)
        self.written: dict[tuple[int, str], int] = {}
        threading.Thread(target=self._run, daemon=True, name="casepilot-query-vectors").start()

    def put(self, store: Store, model: str, h: str, v: np.ndarray, keep: int) -> None:
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait((store, model, h, v, keep))

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < 200:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            groups: dict[tuple[int, str], tuple[Store, int, dict[str, np.ndarray]]] = {}
            for store, model, h, v, keep in batch:
                groups.setdefault((id(store), model), (store, keep, {}))[2][h] = v
            for (sid, model), (store, keep, vectors) in groups.items():
                try:
                    store.put_vectors(model, vectors)  # another worker may have written one: then it fails
                    n = self.written[(sid, model)] = self.written.get((sid, model), 0) + len(vectors)
                    if n // QueryVectors.TRIM_EVERY != (n - len(vectors)) // QueryVectors.TRIM_EVERY:
                        store.trim_vectors(model, keep)
                except Exception as e:  # a cache: a failed write is a later miss, nothing more
                    log.debug("query vector cache write failed: %s", e)
            for _ in batch:
                self.queue.task_done()


_WRITER: _Writer | None = None
_WRITER_LOCK = threading.Lock()


def _writer() -> _Writer:
    """The process's writer (started again in a forked child, which has no threads)."""
    global _WRITER
    with _WRITER_LOCK:
        if _WRITER is None or _WRITER.pid != os.getpid():
            _WRITER = _Writer()
        return _WRITER


def flush() -> None:
    """Wait until the vectors queued so far are in the store (tests; a process that is about to exit)."""
    _writer().queue.join()

"""Keeps the vector and keyword indexes in agreement with the store (the source of truth).

Writers go through ``apply`` (the incremental path, per batch) and ``finish`` (keyword rebuild, then
the store's generation is recorded as synced). If a process dies in between, the recorded synced
generation lags the store's, and the next writer or reader calls ``repair``, which compares ids and
fixes both indexes. ``rebuild`` starts both indexes from nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..embeddings import Embedder
from ..store import Store
from ..types import Chunk
from .keywords import KeywordIndex
from .vectors import VectorStore

log = logging.getLogger(__name__)
Progress = Callable[[int], None]


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class RepairReport:
    vectors_added: int = 0
    vectors_removed: int = 0
    keywords_rebuilt: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.vectors_added or self.vectors_removed or self.keywords_rebuilt)


class Indexes:
    def __init__(self, store: Store, tenant: str, vectors: VectorStore, keywords: KeywordIndex,
                 embedder: Embedder, batch_size: int = 32) -> None:
        self.store = store
        self.tenant = tenant
        self.vectors = vectors
        self.keywords = keywords
        self.embedder = embedder
        self.batch_size = batch_size
        self.embed_seconds = 0.0
        self.embedded_texts = 0

    # ---- embeddings, cached by content hash ----------------------------------------------------

    def vectors_for(self, chunks: Sequence[Chunk], progress: Progress | None = None,
                    cache: bool = True) -> np.ndarray:
        """Vectors for ``chunks`` (their ``index_text``), from the cache where possible; newly computed
        ones are written to the cache when ``cache`` is true."""
        import time

        hashes = [text_hash(c.index_text) for c in chunks]
        model = self.embedder.model_id
        have = self.store.get_vectors(model, list(set(hashes)))
        todo = sorted({h: c.index_text for h, c in zip(hashes, chunks, strict=True) if h not in have}.items())
        fresh: dict[str, np.ndarray] = {}
        for i in range(0, len(todo), self.batch_size):
            part = todo[i : i + self.batch_size]
            t0 = time.perf_counter()
            m = self.embedder.embed_passages([txt for _, txt in part])
            self.embed_seconds += time.perf_counter() - t0
            self.embedded_texts += len(part)
            fresh.update({h: m[j] for j, (h, _) in enumerate(part)})
            if progress:
                progress(len(part))
        if fresh and cache:
            self.store.put_vectors(model, fresh)
        have.update(fresh)
        if not chunks:
            return np.zeros((0, self.embedder.dim or 1), dtype=np.float32)
        return np.stack([have[h] for h in hashes])

    # ---- the incremental path ------------------------------------------------------------------

    def apply(self, added: Sequence[Chunk], removed_ids: Sequence[str]) -> None:
        """Mirror one store write into the vector index (the keyword index is rebuilt in ``finish``)."""
        if removed_ids:
            self.vectors.delete(removed_ids)
        dense = [c for c in added if c.dense]
        if dense:
            self.vectors.upsert(dense, self.vectors_for(dense))

    def finish(self, generation: int | None = None) -> bool:
        """Rebuild the keyword index if the chunk set moved, then record the store's generation as
        synced. Returns whether the keyword index was rebuilt."""
        gen = self.store.generation(self.tenant) if generation is None else generation
        rebuilt = False
        if self.keywords.generation != gen:
            self.keywords.rebuild(self.store.chunk_tokens(self.tenant), gen)
            rebuilt = True
        self.store.set_state(self.tenant, "synced_generation", str(gen))
        return rebuilt

    # ---- checks and repair ---------------------------------------------------------------------

    def in_sync(self) -> bool:
        gen = self.store.generation(self.tenant)
        synced = int(self.store.get_state(self.tenant, "synced_generation") or 0)
        return synced == gen and self.keywords.generation == gen

    def repair(self, progress: Progress | None = None) -> RepairReport:
        """Make both indexes hold exactly the store's chunks (by id; ids are content-addressed, so
        equal ids mean equal content and metadata)."""
        report = RepairReport()
        gen = self.store.generation(self.tenant)
        want = {c.id: c for c in self.store.chunks(self.tenant, dense_only=True)}
        have = self.vectors.ids()
        stale = sorted(have - set(want))
        missing = [want[i] for i in sorted(set(want) - have)]
        if stale:
            self.vectors.delete(stale)
        if missing:
            self.vectors.upsert(missing, self.vectors_for(missing, progress))
        report.vectors_added, report.vectors_removed = len(missing), len(stale)
        all_ids = {c.id for c, _ in self.store.chunk_tokens(self.tenant)}
        if self.keywords.generation != gen or self.keywords.ids() != all_ids:
            self.keywords.generation = -1  # force
        report.keywords_rebuilt = self.finish(gen)
        if report.changed:
            log.warning("indexes of tenant %r were behind the store; repaired (%d vectors added, %d removed%s)",
                        self.tenant, len(missing), len(stale),
                        ", keyword index rebuilt" if report.keywords_rebuilt else "")
        return report

    def ensure_synced(self) -> RepairReport | None:
        if self.in_sync():
            return None
        return self.repair()

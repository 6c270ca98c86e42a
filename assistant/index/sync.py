"""Keeps the vector spaces and the keyword index in agreement with the store (the source of truth).

Writers go through ``apply`` (the incremental path, per batch) and ``finish`` (keyword rebuild, then
the store's generation is recorded as synced). If a process dies in between, the recorded synced
generation lags the store's, and the next writer or reader calls ``repair``, which compares ids and
fixes every index. ``repair`` after dropping the indexes rebuilds them from nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..embeddings import Embedder
from ..store import IndexSource
from ..types import QUESTION_SPACE, Chunk
from .embedding_pool import Batch, EmbeddingPool
from .keywords import KeywordIndex
from .vectors import VectorStore

log = logging.getLogger(__name__)
Progress = Callable[[int], None]


def text_hash(text: str, mode: str = "passage") -> str:
    """Cache key of an embedding: the text and how it was embedded (question or passage)."""
    return hashlib.sha256(f"{mode}\0{text}".encode()).hexdigest()


@dataclass
class VectorSpace:
    """One embedding model with its vector store. Chunks whose ``space`` is ``name`` live here."""

    name: str
    embedder: Embedder
    vectors: VectorStore

    @property
    def mode(self) -> str:
        return "question" if self.name == QUESTION_SPACE else "passage"


@dataclass
class RepairReport:
    vectors_added: int = 0
    vectors_removed: int = 0
    keywords_rebuilt: bool = False
    per_space: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.vectors_added or self.vectors_removed or self.keywords_rebuilt)


class Indexes:
    def __init__(self, store: IndexSource, tenant: str,
                 spaces: Mapping[str, VectorSpace] | Callable[[], Mapping[str, VectorSpace]],
                 keywords: KeywordIndex, batch_size: int = 32) -> None:
        self.store = store
        self.tenant = tenant
        # the vector spaces, or what opens them (Chroma and the embedding models) at their first use:
        # a write that touches only keyword chunks needs neither
        self._spaces = dict(spaces) if isinstance(spaces, Mapping) else spaces
        self.keywords = keywords
        self.batch_size = batch_size
        self.embed_seconds = 0.0  # in the models, summed over the pool's threads
        self.embedded_texts = 0
        self.pool = EmbeddingPool()
        # what ``prefetch`` started and ``vectors_for`` has not taken: (model id, text hash) -> (batch, row)
        self._ahead: dict[tuple[str, str], tuple[Batch, int]] = {}
        # keyword chunks written since the last ``finish``, for patching the keyword index
        self._kw_added: set[str] = set()
        self._kw_removed: set[str] = set()

    @property
    def spaces(self) -> dict[str, VectorSpace]:
        if not isinstance(self._spaces, dict):
            self._spaces = dict(self._spaces())
        return self._spaces

    # ---- embeddings, cached by content hash ----------------------------------------------------

    def vectors_for(self, space: VectorSpace, chunks: Sequence[Chunk], progress: Progress | None = None) -> np.ndarray:
        """Vectors of ``chunks`` in ``space``: from the cache, from what ``prefetch`` started, or embedded
        now (in the embedding pool, batches side by side where the model allows); new ones are cached."""
        emb = space.embedder
        hashes = [text_hash(c.index_text, space.mode) for c in chunks]
        started = {h: self._ahead.pop((emb.model_id, h)) for h in set(hashes) if (emb.model_id, h) in self._ahead}
        have = self.store.get_vectors(emb.model_id, sorted(set(hashes) - set(started)))
        todo = sorted({h: c.index_text for h, c in zip(hashes, chunks, strict=True)
                       if h not in have and h not in started}.items())
        batches: dict[int, tuple[Batch, list[str]]] = {}  # by id(future): its future and its texts' hashes
        for fut, _ in started.values():
            batches.setdefault(id(fut), (fut, []))
        for h, (fut, row) in started.items():
            rows = batches[id(fut)][1]
            rows.extend([""] * (row + 1 - len(rows)))
            rows[row] = h
        for i in range(0, len(todo), self.batch_size):
            part = todo[i : i + self.batch_size]
            fut = self.pool.submit(emb, space.mode == "question", [txt for _, txt in part])
            batches[id(fut)] = (fut, [h for h, _ in part])
        fresh: dict[str, np.ndarray] = {}
        for fut, rows in batches.values():
            m, seconds = fut.result()
            mine = sum(1 for h in rows if h)  # a batch that prefetch started may hold another call's texts
            self.embed_seconds += seconds * mine / max(1, len(m))
            self.embedded_texts += mine
            fresh.update({h: m[j] for j, h in enumerate(rows) if h})
            if progress:
                progress(mine)
        if fresh:
            self.store.put_vectors(emb.model_id, fresh)
        have.update(fresh)
        if not chunks:
            return np.zeros((0, emb.dim or 1), dtype=np.float32)
        return np.stack([have[h] for h in hashes])

    def prefetch(self, chunks: Sequence[Chunk]) -> None:
        """Start embedding ``chunks``' texts that no cache holds, in the embedding pool, so that they are
        ready when ``apply`` asks for them; the caller prepares its next batch meanwhile."""
        for name in sorted({c.space for c in chunks if c.space}):
            space = self.spaces.get(name)
            if space is None:
                continue
            emb = space.embedder
            texts = {text_hash(c.index_text, space.mode): c.index_text for c in chunks if c.space == name}
            texts = {h: txt for h, txt in texts.items() if (emb.model_id, h) not in self._ahead}
            have = self.store.get_vectors(emb.model_id, sorted(texts)) if texts else {}
            todo = sorted((h, txt) for h, txt in texts.items() if h not in have)
            for i in range(0, len(todo), self.batch_size):
                part = todo[i : i + self.batch_size]
                fut = self.pool.submit(emb, space.mode == "question", [txt for _, txt in part])
                for row, (h, _) in enumerate(part):
                    self._ahead[(emb.model_id, h)] = (fut, row)

    def drop_prefetched(self) -> None:
        """Forget what ``prefetch`` started and no ``apply`` took (an import that failed half-way)."""
        for fut, _ in self._ahead.values():
            fut.cancel()
        self._ahead.clear()

    # ---- the incremental path ------------------------------------------------------------------

    def apply(self, added: Sequence[Chunk], removed_ids: Sequence[str],
              removed_spaces: Iterable[str] | None = None) -> None:
        """Mirror one store write into the vector spaces (the keyword index follows in ``finish``).
        ``removed_spaces``: the vector spaces the removed chunks were in (None: any), so that a
        space the write does not touch is not opened."""
        removed = set(removed_ids)
        self._kw_added -= removed
        self._kw_removed |= removed
        self._kw_added.update(c.id for c in added if c.keyword)
        touched = {c.space for c in added if c.space}
        if removed:
            touched |= set(self.space_names() if removed_spaces is None else removed_spaces)
        for name in sorted(touched):
            space = self.spaces.get(name)
            if space is None:
                continue
            if removed:
                space.vectors.delete(sorted(removed))
            mine = [c for c in added if c.space == space.name]
            if mine:
                space.vectors.upsert(mine, self.vectors_for(space, mine))

    def space_names(self) -> list[str]:
        return list(self.spaces)

    def finish(self, generation: int | None = None) -> bool:
        """Bring the keyword index to the chunk set (patched with this writer's chunks where that
        gives the whole set, else rebuilt), then record the store's generation as synced. Returns
        whether the keyword index changed."""
        gen = self.store.generation(self.tenant) if generation is None else generation
        rebuilt = False
        if self.keywords.generation != gen:
            if not self._patch_keywords(gen):
                self.keywords.rebuild(self.store.chunk_tokens(self.tenant), gen)
            rebuilt = True
        self._kw_added.clear()
        self._kw_removed.clear()
        self.store.set_state(self.tenant, "synced_generation", str(gen))
        return rebuilt

    def _patch_keywords(self, gen: int) -> bool:
        """Patch the keyword index with the chunks written since the last ``finish``, when the index
        as loaded plus those changes is exactly the store's keyword chunks (ids are content-addressed,
        so equal ids are equal chunks). A write of more than half the index rebuilds it instead:
        reading every chunk back costs about the same then."""
        if not (self._kw_added or self._kw_removed):
            return False
        self.keywords.refresh()
        have = self.keywords.ids()
        if len(self._kw_added) > len(have) // 2:
            return False
        if (have - self._kw_removed) | self._kw_added != self.store.keyword_chunk_ids(self.tenant):
            return False
        added = self.store.chunk_tokens(self.tenant, ids=sorted(self._kw_added)) if self._kw_added else []
        return self.keywords.patch(self._kw_removed & have, added, gen)

    # ---- checks and repair ---------------------------------------------------------------------

    def check(self) -> tuple[int, bool]:
        """The store's generation, and whether every index reflects it: one query."""
        state = self.store.get_states(self.tenant, ("generation", "synced_generation"))
        gen = int(state.get("generation") or 0)
        return gen, int(state.get("synced_generation") or 0) == gen and self.keywords.generation == gen

    def in_sync(self) -> bool:
        return self.check()[1]

    def repair(self, progress: Progress | None = None, *, rebuild: bool = False) -> RepairReport:
        """Make every index hold exactly the store's chunks (by id; ids are content-addressed, so
        equal ids mean equal content and metadata). ``rebuild``: the indexes were dropped on purpose
        (``casepilot reindex``), so refilling them is not worth a warning."""
        report = RepairReport()
        gen = self.store.generation(self.tenant)
        for space in self.spaces.values():
            want = {c.id: c for c in self.store.chunks(self.tenant, space=space.name)}
            have = space.vectors.ids()
            stale = sorted(have - set(want))
            missing = [want[i] for i in sorted(set(want) - have)]
            if stale:
                space.vectors.delete(stale)
            if missing:
                space.vectors.upsert(missing, self.vectors_for(space, missing, progress))
            report.vectors_added += len(missing)
            report.vectors_removed += len(stale)
            report.per_space[space.name] = (len(missing), len(stale))
        keyword_ids = {c.id for c, _ in self.store.chunk_tokens(self.tenant)}
        if self.keywords.generation != gen or self.keywords.ids() != keyword_ids:
            self.keywords.generation = -1  # force a rebuild
        report.keywords_rebuilt = self.finish(gen)
        if report.changed and not rebuild:
            log.warning("indexes of tenant %r were behind the store; repaired (%d vectors added, %d removed%s)",
                        self.tenant, report.vectors_added, report.vectors_removed,
                        ", keyword index rebuilt" if report.keywords_rebuilt else "")
        return report

    def ensure_synced(self) -> RepairReport | None:
        if self.in_sync():
            return None
        return self.repair()

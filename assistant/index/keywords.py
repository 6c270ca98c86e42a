"""The keyword index: BM25 (``bm25s``) over jieba tokens, persisted under ``CASEPILOT_HOME`` next to
Chroma, under the same chunk ids.

bm25s has no incremental update. The index is built from the store's stored tokens when it has
none to start from; each build keeps its documents as token ids (``bm25_build.Postings``) and its
chunks' ids and metadata in columns (``keyword_manifest``), and a write's few added and removed
chunks patch them into the next build, written in bm25s's file format without importing bm25s.
Each build is written to a new folder and published by replacing one ``CURRENT`` file, so a crash
never leaves a half-written index in use.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..types import Chunk
from . import keyword_manifest
from .bm25_build import Postings, save, scores
from .filters import Allowed, Catalogue, Filters
from .keyword_manifest import ChunkColumns


class KeywordIndex(Protocol):
    generation: int

    def ids(self) -> set[str]: ...

    def rebuild(self, items: Sequence[tuple[Chunk, list[str]]], generation: int) -> None: ...

    def patch(self, removed: Iterable[str], added: Sequence[tuple[Chunk, list[str]]], generation: int) -> bool: ...

    def refresh(self) -> None: ...

    def query(self, tokens: Sequence[str], n: int, filters: Filters) -> list[tuple[str, float]]: ...

    def allowed(self, filters: Filters) -> Allowed | None: ...


class BM25Index:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.generation = 0  # no build yet: the (empty) index of an empty store
        self._ids: list[str] = []
        self._columns = ChunkColumns.encode([])
        self._bm25: Any = None
        self._loaded_from: str | None = None
        self._by_filter: dict[Filters, tuple[np.ndarray | None, Allowed]] = {}
        self._catalogue: Catalogue | None = None
        self._load()

    def _current(self) -> str | None:
        try:
            return (self.folder / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def _load(self) -> None:
        name = self._current()
        if name is None or name == self._loaded_from:
            return
        generation, ids, columns = keyword_manifest.load(self.folder / name)
        self._use(name, generation, ids, columns, None)

    def _matrix(self) -> Any:
        """The loaded build's bm25s index (None when it is empty), read at its first use: patching a
        build needs only its postings."""
        if self._bm25 is None and self._ids and self._loaded_from is not None:
            # lazy: bm25s costs 0.11 s at import and only a non-empty keyword index needs it
            import bm25s

            logging.getLogger("bm25s").setLevel(logging.WARNING)
            try:
                self._bm25 = bm25s.BM25.load(str(self.folder / self._loaded_from / "bm25"), mmap=False)
            except FileNotFoundError:  # a newer build was published and this one removed: use that one
                self._loaded_from = None
                self._load()
                return self._matrix()
        return self._bm25

    def _use(self, name: str, generation: int, ids: list[str], columns: ChunkColumns, bm: Any) -> None:
        self.generation = generation
        self._ids = ids
        self._columns = columns
        self._bm25 = bm
        self._by_filter = {}
        self._catalogue = None
        self._loaded_from = name

    @staticmethod
    def published_generation(folder: Path) -> int:
        """The store generation of the build published in ``folder`` (0: none), read from the build's
        name (``gen-N-...``) without loading it: an import that changes nothing checks it in
        microseconds instead of loading the index (a second at 50k chunks)."""
        try:
            name = (folder / "CURRENT").read_text().strip()
        except FileNotFoundError:
            return 0
        if not name:
            return 0
        m = re.match(r"gen-(-?\d+)-", name)
        if m:
            return int(m.group(1))
        manifest = json.loads((folder / name / "manifest.json").read_text(encoding="utf-8"))
        return int(manifest["generation"])

    def refresh(self) -> None:
        """Pick up a build published by another process."""
        self._load()

    def behind(self) -> bool:
        """Another process published a build this one has not loaded (``refresh`` would load it)."""
        return self._current() != self._loaded_from

    def ids(self) -> set[str]:
        return set(self._ids)

    def rebuild(self, items: Sequence[tuple[Chunk, list[str]]], generation: int) -> None:
        """Build the index of ``items`` from nothing and publish it as ``generation``."""
        items = sorted(items, key=lambda it: it[0].id)  # one order, whatever the database's collation
        # an empty token list would break bm25s; such chunks just never match
        docs = [toks or [""] for _, toks in items]
        self._publish([c.id for c, _ in items], ChunkColumns.encode([c.metadata() for c, _ in items]),
                      Postings.encode(docs) if items else None, generation)

    def patch(self, removed: Iterable[str], added: Sequence[tuple[Chunk, list[str]]], generation: int) -> bool:
        """Publish this build without the chunks ``removed`` and with ``added``, as ``generation``:
        the same index that ``rebuild`` makes of the resulting chunks, without reading the others'
        tokens again. False (nothing done) when this build kept no postings to patch."""
        self._load()
        name = self._loaded_from
        if name is None or not self._ids:
            return False
        postings = Postings.load(self.folder / name / "bm25")
        if postings is None or postings.n_docs != len(self._ids):
            return False
        gone = set(removed) | {c.id for c, _ in added}
        keep = np.fromiter((i not in gone for i in self._ids), dtype=bool, count=len(self._ids))
        ids = [i for i, k in zip(self._ids, keep.tolist(), strict=True) if k] + [c.id for c, _ in added]
        if not ids:
            self._publish([], ChunkColumns.encode([]), None, generation)
            return True
        columns = self._columns.select(np.flatnonzero(keep)).extend([c.metadata() for c, _ in added])
        order = np.asarray(sorted(range(len(ids)), key=ids.__getitem__), dtype=np.int64)
        place = np.empty_like(order)
        place[order] = np.arange(len(order))
        n_kept = len(ids) - len(added)
        if (np.diff(place[:n_kept]) < 0).any():  # a build not in id order: made anew
            return False
        patched = postings.patch(keep, [toks or [""] for _, toks in added], place)
        self._publish([ids[i] for i in order.tolist()], columns.select(order).compact(), patched, generation)
        return True

    def _publish(self, ids: list[str], columns: ChunkColumns, postings: Postings | None, generation: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # unique per build: a second build of the same generation in this process (a repair) must be
        # loaded too, and loading skips a name it already holds
        name = f"gen-{generation}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        d = self.folder / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        bm = None
        if postings is not None:
            sc = scores(postings)
            save(d / "bm25", sc, postings.vocab, postings.vocab_file)  # bm25s's files, without importing it
            postings.save(d / "bm25")
            if "bm25s" in sys.modules:  # a process that searches: keep what was built, no reading it back
                bm = _bm25_object(sc, postings.vocab)
        columns.save(d, generation, ids)
        tmp = self.folder / f"CURRENT.{os.getpid()}.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.folder / "CURRENT")
        for old in self.folder.iterdir():
            if old.is_dir() and old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        self._use(name, generation, ids, columns, bm)  # what was just written, without reading it back

    def idf(self, token: str) -> float:
        """BM25 inverse document frequency of ``token`` over the chunks; a token the library never
        uses gets the highest possible value."""
        n = len(self._ids)
        bm = self._matrix()
        vocab = bm.vocab_dict if bm is not None else {}
        tid = vocab.get(token)
        df = 0
        if tid is not None:
            indptr = bm.scores["indptr"]
            df = int(indptr[tid + 1] - indptr[tid])
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def unseen_idf(self) -> float:
        """The IDF of a token no chunk holds (``idf``'s largest value)."""
        n = len(self._ids)
        return float(np.log(1 + (n + 0.5) / 0.5))

    def catalogue(self) -> Catalogue:
        """The chunks' filterable metadata (``Catalogue``), made from the build's columns at first use."""
        cat = self._catalogue
        if cat is None:
            c = self._columns
            cat = self._catalogue = Catalogue.from_columns(c.values, c.codes, c.tag_values, c.tag_indptr, c.tag_codes)
        return cat

    def _filtered(self, filters: Filters) -> tuple[np.ndarray | None, Allowed]:
        """For ``filters``: the keyword scores' mask (1.0 for the chunks that pass, None when they all
        do) and the records that pass, both from one chunk mask, cached until the next build is loaded."""
        got = self._by_filter.get(filters)
        if got is None:
            cat = self.catalogue()
            passing = cat.mask(filters)
            got = (None if passing.all() else passing.astype(np.float32), cat.allowed(passing))
            if len(self._by_filter) > 64:
                self._by_filter.clear()
            self._by_filter[filters] = got
        return got

    def _mask(self, filters: Filters) -> np.ndarray | None:
        return None if filters == Filters(statuses=()) else self._filtered(filters)[0]

    def allowed(self, filters: Filters) -> Allowed | None:
        """Which records pass ``filters``; None before the first build, when this index cannot tell."""
        return self._filtered(filters)[1] if self._ids else None

    def query(self, tokens: Sequence[str], n: int, filters: Filters) -> list[tuple[str, float]]:
        bm = self._matrix()
        if bm is None:
            return []
        vocab = bm.vocab_dict
        known = [t for t in tokens if t in vocab and t]
        if not known:
            return []
        scores = bm.get_scores(known)
        mask = self._mask(filters)
        if mask is not None:
            scores = scores * mask
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[i], float(scores[i])) for i in top if scores[i] > 0]


def _bm25_object(sc: dict[str, Any], vocab: Sequence[str]) -> Any:
    """The ``bm25s.BM25`` that loading the files ``bm25_build.save`` wrote gives."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    bm = bm25s.BM25()
    bm.scores = sc
    bm.vocab_dict = {tok: i for i, tok in enumerate(vocab)}
    bm.unique_token_ids_set = set(bm.vocab_dict.values())
    bm.nonoccurrence_array = None
    return bm

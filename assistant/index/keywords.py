"""The keyword index: BM25 (``bm25s``) over jieba tokens, persisted under ``CASEPILOT_HOME`` next to
Chroma, under the same chunk ids.

bm25s has no incremental update, so the index is rebuilt from the store's stored tokens when the
chunk set changes (about a second per 10k chunks). Each build is written to a new folder and
published by replacing one ``CURRENT`` file, so a crash never leaves a half-written index in use.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..types import Chunk
from .filters import Allowed, Catalogue, Filters


class KeywordIndex(Protocol):
    generation: int

    def ids(self) -> set[str]: ...

    def rebuild(self, items: Sequence[tuple[Chunk, list[str]]], generation: int) -> None: ...

    def query(self, tokens: Sequence[str], n: int, filters: Filters) -> list[tuple[str, float]]: ...

    def allowed(self, filters: Filters) -> Allowed | None: ...


class BM25Index:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.generation = 0  # no build yet: the (empty) index of an empty store
        self._ids: list[str] = []
        self._meta: list[dict[str, Any]] = []
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
        d = self.folder / name
        manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
        self.generation = int(manifest["generation"])
        self._ids = manifest["ids"]
        self._meta = manifest["meta"]
        self._bm25 = None
        if self._ids:
            # lazy: bm25s costs 0.11 s at import and only a non-empty keyword index needs it
            import bm25s

            logging.getLogger("bm25s").setLevel(logging.WARNING)
            self._bm25 = bm25s.BM25.load(str(d / "bm25"), mmap=False)
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
        # lazy: bm25s costs 0.11 s at import (see _load)
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.folder.mkdir(parents=True, exist_ok=True)
        # unique per build: a second build of the same generation in this process (a repair) must be
        # loaded too, and loading skips a name it already holds
        name = f"gen-{generation}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        d = self.folder / name
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        ids = [c.id for c, _ in items]
        meta = [c.metadata() for c, _ in items]
        if items:
            bm = bm25s.BM25()
            # an empty token list would break bm25s; such chunks just never match
            bm.index([toks or [""] for _, toks in items], show_progress=False)
            bm.save(str(d / "bm25"))
        (d / "manifest.json").write_text(
            json.dumps({"generation": generation, "ids": ids, "meta": meta}, ensure_ascii=False), encoding="utf-8")
        tmp = self.folder / f"CURRENT.{os.getpid()}.tmp"
        tmp.write_text(name)
        os.replace(tmp, self.folder / "CURRENT")
        for old in self.folder.iterdir():
            if old.is_dir() and old.name != name:
                shutil.rmtree(old, ignore_errors=True)
        self._load()

    def idf(self, token: str) -> float:
        """BM25 inverse document frequency of ``token`` over the chunks; a token the library never
        uses gets the highest possible value."""
        n = len(self._ids)
        vocab = self._bm25.vocab_dict if self._bm25 is not None else {}
        tid = vocab.get(token)
        df = 0
        if tid is not None:
            indptr = self._bm25.scores["indptr"]
            df = int(indptr[tid + 1] - indptr[tid])
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def unseen_idf(self) -> float:
        """The IDF of a token no chunk holds (``idf``'s largest value)."""
        n = len(self._ids)
        return float(np.log(1 + (n + 0.5) / 0.5))

    def catalogue(self) -> Catalogue:
        """The chunks' metadata in columns, built on first use after each load (0.25 s at 120k chunks)."""
        cat = self._catalogue
        if cat is None:
            cat = self._catalogue = Catalogue(self._meta)
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
        return self._filtered(filters)[1] if self._meta else None

    def query(self, tokens: Sequence[str], n: int, filters: Filters) -> list[tuple[str, float]]:
        if self._bm25 is None:
            return []
        vocab = self._bm25.vocab_dict
        known = [t for t in tokens if t in vocab and t]
        if not known:
            return []
        scores = self._bm25.get_scores(known)
        mask = self._mask(filters)
        if mask is not None:
            scores = scores * mask
        n = min(n, len(scores))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[i], float(scores[i])) for i in top if scores[i] > 0]

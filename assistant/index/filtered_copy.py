"""A vector space's vectors kept in memory (float32) for filtered searches.

A filter that passes a small share of the records makes Chroma's HNSW search with a wide beam (asked
for ``n / share`` neighbours, its ``ef`` grows with them: at 100,000 vectors 16 ms at ef=500 against
1.8 ms at ef=100), while an exact search over the rows that pass is one matrix-vector product over a
fifth of them (docs/measurements.md, "The index side at 120,000 chunks"). Each filter's passing rows
are gathered once into a matrix of their own; all filters' matrices together hold at most as many rows
as the copy, the least recently used dropped first. The copy is float32, not float16, because a
filter's first search gathers its rows: converting a fifth of 100,000 float16 rows cost 50-90 ms of
processor time, copying float32 rows 15 ms (docs/measurements.md, "A filter's first search").
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from ..chunking import record_of
from .filters import Allowed, Filters


def unit_rows(m: np.ndarray) -> np.ndarray:
    """``m``'s rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms > 0, norms, 1.0)


def unit(vector: np.ndarray) -> np.ndarray:
    """A query vector as float32 of unit length, for cosine similarity with ``unit_rows``."""
    v = np.asarray(vector, dtype=np.float32).ravel()
    return v / (float(np.linalg.norm(v)) or 1.0)


def best(sims: np.ndarray, k: int) -> np.ndarray:
    """The positions of the ``k`` largest similarities, largest first (ties in position order)."""
    top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
    return top[np.argsort(-sims[top], kind="stable")]


class FilteredCopy:
    """One collection's ids and unit vectors, searched exactly among the records a filter passes.
    Each row knows its record by an integer code, so that a filter's rows are found with one table
    lookup per row rather than a set lookup of the record's id."""

    BLOCK = 10_000

    def __init__(self, ids: Sequence[str], vectors: np.ndarray) -> None:
        """``vectors`` (one row per id) are scaled to unit length in place when they are already a
        float32 array, so that loading holds one copy of them, not two."""
        self.ids = list(ids)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(self.ids), -1)
        for i in range(0, len(self.ids), self.BLOCK):  # in blocks: no temporary the size of the whole
            self.vectors[i : i + self.BLOCK] = unit_rows(self.vectors[i : i + self.BLOCK])
        self._record_code: dict[str, int] = {}
        code = self._record_code
        self._codes = np.fromiter((code.setdefault(record_of(i), len(code)) for i in self.ids), dtype=np.int32,
                                  count=len(self.ids))
        self._by_filter: OrderedDict[Filters, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._rows = 0
        self._lock = threading.Lock()  # searches of several threads share this copy

    def passing(self, filters: Filters, allowed: Allowed) -> tuple[np.ndarray, np.ndarray]:
        """The rows of the records ``allowed`` lets through and their vectors, kept per filter."""
        with self._lock:
            got = self._by_filter.get(filters)
            if got is not None:
                self._by_filter.move_to_end(filters)
                return got
        if allowed.records is None:
            rows = np.arange(len(self.ids))
        else:
            passes = np.zeros(len(self._record_code), dtype=bool)
            passes[[c for r in allowed.records if (c := self._record_code.get(r)) is not None]] = True
            rows = np.flatnonzero(passes[self._codes])
        got = (rows, np.take(self.vectors, rows, axis=0))
        with self._lock:
            if filters not in self._by_filter:
                self._by_filter[filters] = got
                self._rows += len(rows)
            while self._rows > len(self.ids) and len(self._by_filter) > 1:
                _, (old, _) = self._by_filter.popitem(last=False)
                self._rows -= len(old)
        return got

    def query(self, vector: np.ndarray, n: int, filters: Filters, allowed: Allowed) -> list[tuple[str, float]]:
        """The ``n`` chunks most cosine-similar to ``vector`` among the records ``allowed`` passes."""
        rows, matrix = self.passing(filters, allowed)
        k = min(n, len(rows))
        if k <= 0:
            return []
        sims = matrix @ unit(vector)
        return [(self.ids[rows[i]], float(sims[i])) for i in best(sims, k)]

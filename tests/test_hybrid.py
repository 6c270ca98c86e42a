"""The hybrid retriever's fusion and its concurrent vector searches, on small in-memory parts."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from assistant.chunking import record_of
from assistant.embeddings import HashEmbedder
from assistant.index.filters import Allowed, Filters
from assistant.retrieval import Candidate, DenseRetriever, HybridRetriever


class ListedStore:
    """A vector store that answers every query with the same chunk list, after ``wait()``."""

    model_id = "listed"

    def __init__(self, hits: list[tuple[str, float]], wait=lambda: None) -> None:
        self.hits = hits
        self.wait = wait
        self.threads: list[str] = []

    def query(self, vector: np.ndarray, n: int, filters: Filters,
              allowed: Allowed | None = None) -> list[tuple[str, float]]:
        self.threads.append(threading.current_thread().name)
        self.wait()
        return self.hits[:n]


class ListedKeywords:
    name = "keyword"

    def __init__(self, hits: list[tuple[str, float]]) -> None:
        self.hits = hits

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]:
        return [Candidate(cid, s, {self.name: i + 1}, {self.name: s}) for i, (cid, s) in enumerate(self.hits[:n])]


A = [("C-1#solution.0#a", 0.9), ("C-2#problem.0#b", 0.8), ("C-3#title.0#c", 0.5)]
B = [("C-3#view.0#d", 0.7), ("C-1#view.0#e", 0.6), ("C-4#view.0#f", 0.1)]
K = [("C-2#solution.0#g", 12.0), ("C-3#solution.0#h", 3.0)]


def fused(hybrid: HybridRetriever) -> list[tuple[str, float, dict[str, int]]]:
    return [(c.chunk_id, round(c.score, 6), c.ranks) for c in hybrid.candidates("打印机连不上", 10, Filters())]


def test_vector_searches_overlap_and_fuse_in_the_parts_order() -> None:
    both_running = threading.Barrier(2, timeout=5)  # broken unless the two searches run at the same time

    def slow_then_meet() -> None:
        time.sleep(0.05)  # the first part's search finishes last
        both_running.wait()

    emb = HashEmbedder(64)
    first, second = ListedStore(A, slow_then_meet), ListedStore(B, both_running.wait)
    hybrid = HybridRetriever([DenseRetriever(first, emb, "question"), DenseRetriever(second, emb, "passage"),
                              ListedKeywords(K)], weights={"question": 1.0, "passage": 0.5})
    got = fused(hybrid)
    assert first.threads[0] != second.threads[0] and first.threads[0].startswith("casepilot-search")

    # the same parts, run one after another on this thread, fuse to exactly the same list
    sequential = HybridRetriever([DenseRetriever(ListedStore(A), emb, "question"),
                                  DenseRetriever(ListedStore(B), emb, "passage"), ListedKeywords(K)],
                                 weights={"question": 1.0, "passage": 0.5})
    sequential.part_candidates = lambda q, n, f: [p.candidates(q, n, f) for p in sequential.parts]  # type: ignore[method-assign]
    assert got == fused(sequential)
    # min-max scaled, weighted, over a total weight of 2.5: C-2 (0.75 + 1) / 2.5 = 0.7,
    # C-1 (1 + 0.5 * 0.833) / 2.5 = 0.567, C-3 0.5 / 2.5 = 0.2, C-4 0
    assert [(record_of(c[0]), c[1]) for c in got] == [("C-2", 0.7), ("C-1", 0.566667), ("C-3", 0.2), ("C-4", 0.0)]
    # a record's chunk comes from the retriever that ranked it best: C-3 ranked 1st by passage
    assert dict((record_of(c[0]), c[0]) for c in got)["C-3"] == "C-3#view.0#d"


def test_a_failing_vector_search_fails_the_query() -> None:
    def broken() -> None:
        raise RuntimeError("index file is gone")

    hybrid = HybridRetriever([DenseRetriever(ListedStore(A, broken), HashEmbedder(64), "question"),
                              ListedKeywords(K)])
    with pytest.raises(RuntimeError, match="index file is gone"):
        hybrid.candidates("打印机", 10, Filters())


def test_a_snippet_reads_an_articles_headings_as_text() -> None:
    from assistant.retrieval import _snippet

    assert _snippet("# 扫码枪配对说明\n\n## 一、准备\n先长按电源键三秒。#3 号键") == "扫码枪配对说明 一、准备 先长按电源键三秒。#3 号键"

"""Repeated questions skip the embedding model (assistant/query_vectors.py): a process's LRU, and the
store's table shared by every process on the same database, each tenant apart."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import HashEmbedder
from assistant.library import Library
from assistant.query_vectors import QueryVectors, flush, query_model
from assistant.store import Store
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A store on each backend: SQLite, and PostgreSQL (shared by hosts)."""
    s = Store(db_url)
    yield s
    s.close()


class Counting(HashEmbedder):
    """The hash embedder, counting the questions it embeds."""

    def __init__(self) -> None:
        super().__init__(64)
        self.asked: list[str] = []

    def embed_query(self, text: str) -> np.ndarray:
        self.asked.append(text)
        return super().embed_query(text)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return super().embed_passages(texts)


def test_a_repeated_question_is_embedded_once_per_process_and_once_for_all(store: Store) -> None:
    emb = Counting()
    first = QueryVectors(store, "A", entries=2)
    v = first.embed(emb, "打印机连不上WiFi")
    assert np.array_equal(first.embed(emb, "打印机连不上WiFi"), v) and emb.asked == ["打印机连不上WiFi"]
    flush()
    other_worker = QueryVectors(store, "A", entries=2)  # another process on the same store
    assert np.array_equal(other_worker.embed(emb, "打印机连不上WiFi"), v)
    assert emb.asked == ["打印机连不上WiFi"] and other_worker.shared_hits == 1
    other_tenant = QueryVectors(store, "B")
    other_tenant.embed(emb, "打印机连不上WiFi")  # never another tenant's entry: its speed would tell
    assert emb.asked == ["打印机连不上WiFi"] * 2
    for q in ("一", "二", "三"):  # the process keeps two
        first.embed(emb, q)
    assert len(first._lru) == 2
    alone = QueryVectors(store, "C", shared=0)
    alone.embed(emb, "发票抬头开错了")
    flush()
    assert QueryVectors(store, "C").embed(emb, "发票抬头开错了") is not None
    assert emb.asked[-2:] == ["发票抬头开错了"] * 2  # shared=0 wrote nothing to the store


def test_the_shared_table_is_bounded(store: Store) -> None:
    model = query_model("hash-8")
    store.put_vectors(model, {f"{i:064x}"[::-1]: np.ones(8, np.float32) for i in range(1000)})
    store.put_vectors("hash-8", {"ab" * 32: np.ones(8, np.float32)})  # a chunk's vector: never trimmed
    assert store.trim_vectors(model, 2000) == 0
    dropped = store.trim_vectors(model, 500)
    left = 1000 - dropped
    assert 300 <= left <= 500
    assert store.get_vectors("hash-8", ["ab" * 32])


def test_search_results_are_the_same_from_the_cache(library: Library, tmp_path: Path) -> None:
    Ingestor(library).ingest_paths([write_jsonl(tmp_path / "c.jsonl", [
        case("C-1", "打印机连不上WiFi"), case("C-2", "发票抬头开错了怎么重开")])])
    first = library.search("打印机连不上网", 5)
    flush()
    again = library.search("打印机连不上网", 5)
    fresh = Library(library.settings, library.tenant, store=library.store, embedder=HashEmbedder())
    from_store = fresh.search("打印机连不上网", 5)
    assert first == again == from_store
    assert library.query_vectors.hits >= 1 and fresh.query_vectors.shared_hits >= 1

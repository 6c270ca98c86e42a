"""A worker's warm-up (``assistant.warmup``): Chroma's vector indexes load in a thread beside the
models and the keyword index, and what it returns is a library with every index live."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from assistant.errors import ConfigError
from assistant.index.vectors import chroma_client, preload
from assistant.library import Library
from assistant.settings import Settings
from assistant.warmup import warm
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small library searched through Chroma's HNSW indexes (no exact in-memory copy)."""
    d = tmp_path_factory.mktemp("warm")
    s = Settings(home=d / "h", embedder="hash", passage_embedder="hash", exact_search_limit=0)
    cases = [case(f"C-{i}", f"第{i}号打印机无法连接无线网络") for i in range(20)]
    cases.append(case("C-BILL", "账单重复扣费", problem="客户被扣了两次费。", solution="1. 核对流水\n2. 原路退款"))
    Ingestor(Library(s)).ingest_paths([write_jsonl(d / "c.jsonl", cases)])
    return s


def test_a_warmed_library_has_every_index_loaded_and_answers(settings: Settings) -> None:
    lib, warmed = warm(settings, "default", lambda: Library(settings, create=False))
    try:
        assert set(warmed.parts) == {"vector store opened", "vector indexes", "query models", "keyword index",
                                     "spaces and retriever"}
        # Chroma's client first, alone; its indexes then load while the models and keywords do
        assert warmed.parts["vector indexes"].start_s >= warmed.parts["vector store opened"].end_s
        assert warmed.parts["spaces and retriever"].start_s >= max(p.end_s for n, p in warmed.parts.items()
                                                                    if n != "spaces and retriever")
        assert lib.keywords._bm25 is not None and lib.keywords._catalogue is not None  # matrix and filter columns
        assert "_retriever" in lib.__dict__ and set(lib.__dict__["spaces"]) == {"question", "passage"}
        assert lib.search("账单重复扣费", 3)[0].id == "C-BILL"
    finally:
        lib.close()


def test_the_vector_indexes_load_beside_the_models(settings: Settings) -> None:
    slow = 0.6  # a model load that takes this long: the vector indexes load meanwhile, not after it
    lib, warmed = warm(settings, "default", lambda: Library(settings, create=False), also=[lambda: time.sleep(slow)])
    try:
        models, vectors = warmed.parts["query models"], warmed.parts["vector indexes"]
        assert models.end_s - models.start_s >= slow
        assert vectors.start_s < models.start_s + slow  # started before the models were done
    finally:
        lib.close()


def test_a_failed_model_load_is_raised_once_the_indexes_are_loaded(settings: Settings) -> None:
    broken = settings.model_copy(update={"embedder": "no-such-model"})
    with pytest.raises(ConfigError, match="unknown embedder"):
        warm(broken, "default", lambda: Library(broken, create=False))


def test_preloading_a_missing_collection_does_nothing(tmp_path: Path) -> None:
    client = chroma_client(tmp_path / "chroma")
    preload(client, "cp-nobody-00000000")  # no error, nothing created
    assert client.list_collections() == []
    client.create_collection("empty", metadata={"hnsw:space": "cosine"}, embedding_function=None)
    preload(client, "empty")  # nothing stored: nothing to load

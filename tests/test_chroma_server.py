"""The vector store through ``HttpClient`` (``CASEPILOT_CHROMA_URL``), against a real Chroma server
started on loopback by the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.embeddings import HashEmbedder
from assistant.library import Library
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.chroma_server import start_chroma
from tests.conftest import assert_indexes_match_store, case, write_jsonl


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    server = start_chroma(tmp_path / "server")
    try:
        yield server.url
    finally:
        server.stop()


def test_library_on_a_chroma_server(tmp_path: Path, chroma_url: str) -> None:
    settings = Settings(home=tmp_path / "home", chroma_url=chroma_url)
    lib = Library(settings, embedder=HashEmbedder())
    Ingestor(lib).ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别")])])
    assert not settings.chroma_dir.exists()  # the vectors live on the server
    assert [h.id for h in lib.search("扫码枪", k=1)] == ["C-2"]
    Ingestor(lib).delete(["C-2"])
    assert [h.id for h in lib.search("扫码枪", k=5)] == ["C-1"]
    assert_indexes_match_store(lib)

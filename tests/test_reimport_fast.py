"""A re-import that changes nothing costs a hash and a query a batch: no embedding model, no index
opened, no redaction repeated; and skipping that work never changes what is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.embeddings import HashEmbedder
from assistant.index.keywords import BM25Index
from assistant.index.vectors import collection_name
from assistant.library import Library
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import assert_indexes_match_store, case, write_jsonl

SAMPLE = Path(__file__).resolve().parent.parent / "ingestion" / "sample_library"


class NoModel:
    """An embedder that cannot be loaded (an endpoint that is down, say): any use fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the embedder was used ({name}) by an import that changes nothing")


def test_an_unchanged_reimport_needs_no_model_and_no_index(tmp_path: Path, settings: Settings) -> None:
    p = write_jsonl(tmp_path / "c.jsonl", [case(f"C-{i}", f"打印机故障{i}") for i in range(20)])
    lib = Library(settings, embedder=HashEmbedder())
    Ingestor(lib, record_sources=True).ingest_paths([p])
    lib.close()

    fresh = Library(settings, embedder=NoModel())  # type: ignore[arg-type]
    try:
        again = Ingestor(fresh, record_sources=True).ingest_paths([p])
        assert len(again.unchanged) == 20 and not again.repaired
        assert "keywords" not in fresh.__dict__  # the keyword index was not loaded either
        assert fresh.store.sourced(fresh.tenant, str(p.resolve())) == [
            (f"C-{i}", "case", str(p.resolve())) for i in sorted(range(20), key=str)]
    finally:
        fresh.close()

    # one changed record opens the indexes and lands in both
    p2 = write_jsonl(tmp_path / "c.jsonl", [case(f"C-{i}", f"打印机故障{i}", **({"outcome": "已解决"} if i == 3 else {}))
                                            for i in range(20)])
    lib = Library(settings, embedder=HashEmbedder())
    try:
        one = Ingestor(lib, record_sources=True).ingest_paths([p2])
        assert one.updated == ["C-3"] and len(one.unchanged) == 19 and one.chunks_written == 1
        assert_indexes_match_store(lib)
    finally:
        lib.close()


def test_indexes_behind_the_store_are_still_repaired_by_a_fresh_library(tmp_path: Path, settings: Settings) -> None:
    p = write_jsonl(tmp_path / "c.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别")])
    lib = Library(settings, embedder=HashEmbedder())
    Ingestor(lib).ingest_paths([p])
    lib.store.set_state(lib.tenant, "synced_generation", "0")  # a writer died before its finish
    lib.close()
    fresh = Library(settings, embedder=HashEmbedder())
    try:
        assert not fresh.indexes_in_sync()
        again = Ingestor(fresh).ingest_paths([p])
        assert again.repaired and len(again.unchanged) == 2
        assert fresh.indexes_in_sync()
    finally:
        fresh.close()


def test_the_published_keyword_generation_is_read_without_loading(tmp_path: Path, settings: Settings) -> None:
    lib = Library(settings, embedder=HashEmbedder())
    try:
        folder = settings.keyword_dir / collection_name(lib.tenant)
        assert BM25Index.published_generation(folder) == 0  # nothing built yet
        Ingestor(lib).ingest_paths([write_jsonl(tmp_path / "c.jsonl", [case("C-1")])])
        gen = lib.store.generation(lib.tenant)
        assert gen > 0 and BM25Index.published_generation(folder) == gen == BM25Index(folder).generation
        # a build named otherwise (before the name carried it) is read from its manifest
        current = (folder / "CURRENT").read_text().strip()
        (folder / current).rename(folder / "legacy")
        (folder / "CURRENT").write_text("legacy")
        assert BM25Index.published_generation(folder) == gen
    finally:
        lib.close()


def test_a_record_read_as_before_is_stored_as_redacted_then(tmp_path: Path, settings: Settings) -> None:
    """The redaction memo only saves time: a changed allow-list, or a lost or garbled memo, gives
    what redacting again gives."""
    rec = case("C-1", problem="客户电话 13812345678，打印机无法连接。")
    p = write_jsonl(tmp_path / "c.jsonl", [rec])

    def run() -> Any:
        lib = Library(settings, embedder=HashEmbedder())
        try:
            summary = Ingestor(lib).ingest_paths([p])
            stored = lib.store.get(lib.tenant, "C-1")
            assert stored is not None
            return summary, stored.data["problem"]
        finally:
            lib.close()

    first, problem = run()
    assert first.added == ["C-1"] and "13812345678" not in problem and first.redacted
    memo = next((settings.home / "import-hashes").glob("*.json"))
    assert "C-1" in json.loads(memo.read_text(encoding="utf-8"))["records"]
    again, same = run()
    assert again.unchanged == ["C-1"] and same == problem and not again.redacted

    memo.write_text("{not json", encoding="utf-8")
    garbled, same = run()
    assert garbled.unchanged == ["C-1"] and same == problem

    # allowing the number changes what redaction gives, so the record is redacted again and updated
    (settings.home / "redaction.yaml").write_text("allow_phones: ['13812345678']\n", encoding="utf-8")
    allowed, kept = run()
    assert allowed.updated == ["C-1"] and "13812345678" in kept
    assert run()[0].unchanged == ["C-1"]


def test_the_redaction_key_changes_with_any_module_of_the_redaction_package(monkeypatch) -> None:
    """A fix in any redaction rule (not only the package's __init__) must make records redact again."""
    from assistant import redact
    from assistant.redact import Redactor
    from ingestion import redaction_memo

    before = redaction_memo.redactor_key(Redactor())
    real = Path.read_bytes
    rules = Path(redact.__file__).parent / "numbers.py"
    assert rules.exists()
    monkeypatch.setattr(Path, "read_bytes", lambda self: real(self) + (b"# changed" if self == rules else b""))
    assert redaction_memo.redactor_key(Redactor()) != before
    monkeypatch.setattr(Path, "read_bytes", real)
    monkeypatch.setitem(redaction_memo.TEXT_FIELDS, "article", ("title",))
    assert redaction_memo.redactor_key(Redactor()) != before


def _parses(monkeypatch) -> list[str]:
    """The ids of the records parsed from here on (``loaders.parse_record`` counted)."""
    from ingestion import loaders

    seen: list[str] = []
    real = loaders.parse_record

    def counted(d: Any, *a: Any, **kw: Any) -> Any:
        seen.append(d.get("id") if isinstance(d, dict) else repr(d))
        return real(d, *a, **kw)

    monkeypatch.setattr(loaders, "parse_record", counted)
    return seen


def test_a_line_read_before_byte_for_byte_is_not_parsed_again(tmp_path: Path, library: Library,
                                                               monkeypatch) -> None:
    """An unchanged line is known by its bytes: not parsed, counted unchanged; every other line, a
    malformed one or a changed one or one that repeats an id, is read and reported as before."""
    rows = [case(f"C-{i}", f"打印机故障{i}") for i in range(10)]
    p = write_jsonl(tmp_path / "c.jsonl", rows)
    first = Ingestor(library, record_sources=True).ingest_paths([p])
    assert len(first.added) == 10
    parsed = _parses(monkeypatch)
    again = Ingestor(library, record_sources=True).ingest_paths([p])
    assert parsed == [] and again.unchanged == [f"C-{i}" for i in range(10)] and not again.rejected
    assert again.sources == first.sources

    # a changed line, a broken one, an id given twice by a known line, and a line with an ignored field
    rows[3] = case("C-3", "打印机故障3", outcome="已解决")
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    lines[5:5] = ['{"kind": "case", "id": "C-BAD", ', lines[0], json.dumps(case("C-X", soluton="拼错"),
                                                                           ensure_ascii=False)]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    parsed.clear()
    mixed = Ingestor(library, record_sources=True).ingest_paths([p])
    assert parsed == ["C-3", "C-X"]  # the broken line fails as JSON, before any record is parsed
    assert mixed.updated == ["C-3"] and mixed.added == ["C-X"] and len(mixed.unchanged) == 9
    assert [(r.line, r.field) for r in mixed.rejected] == [(6, None), (7, "id")]
    assert "invalid JSON" in mixed.rejected[0].error and "C-0" in mixed.rejected[1].error
    assert any("soluton" in w for w in mixed.warnings)
    parsed.clear()
    same = Ingestor(library, record_sources=True).ingest_paths([p])
    assert parsed == ["C-X"]  # a line that warns is read each time, so that it warns each time
    assert [(r.line, r.field) for r in same.rejected] == [(6, None), (7, "id")]
    assert any("soluton" in w for w in same.warnings) and len(same.unchanged) == 11
    assert_indexes_match_store(library)


def test_a_known_line_whose_record_changed_in_the_store_is_read_again(tmp_path: Path, library: Library,
                                                                        monkeypatch) -> None:
    """Known lines still count against the taxonomy; one whose record was deleted is read and added."""
    p = write_jsonl(tmp_path / "c.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别", tags=["产品线/不存在"])])
    first = Ingestor(library).ingest_paths([SAMPLE / "taxonomy.yaml", p])
    assert first.unknown_tags == [("C-2", "产品线/不存在")]
    library.store.delete(library.tenant, ["C-1"], actor="test")
    parsed = _parses(monkeypatch)
    again = Ingestor(library).ingest_paths([p])
    assert parsed == ["C-1"] and again.added == ["C-1"] and again.unchanged == ["C-2"]
    assert again.unknown_tags == first.unknown_tags and again.warnings == first.warnings
    assert_indexes_match_store(library)


def test_known_lines_are_forgotten_when_the_parsing_code_changes(tmp_path: Path, library: Library,
                                                                 monkeypatch) -> None:
    from ingestion import redaction_memo

    p = write_jsonl(tmp_path / "c.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别")])
    Ingestor(library).ingest_paths([p])
    monkeypatch.setattr(redaction_memo, "parser_key", lambda: "other code")
    parsed = _parses(monkeypatch)
    again = Ingestor(library).ingest_paths([p])
    assert sorted(parsed) == ["C-1", "C-2"] and len(again.unchanged) == 2
    parsed.clear()
    assert len(Ingestor(library).ingest_paths([p]).unchanged) == 2 and parsed == []  # known again

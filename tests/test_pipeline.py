"""Idempotent ingestion, updates, archive and delete propagating to the store and both indexes."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.embeddings import HashEmbedder
from assistant.errors import ConfigError
from assistant.index.filters import Filters
from assistant.library import Library
from ingestion.pipeline import Ingestor
from tests.conftest import assert_indexes_match_store, case, write_jsonl


def index_state(lib: Library) -> tuple[set[str], set[str], set[str]]:
    """(store chunk ids, ids in any vector space, keyword ids) after picking up the latest keyword build."""
    lib.keywords.refresh()
    vec_ids = set().union(*(s.vectors.ids() for s in lib.spaces.values()))
    return {c.id for c in lib.store.chunks(lib.tenant)}, vec_ids, lib.keywords.ids()


assert_consistent = assert_indexes_match_store


def test_reingest_unchanged_writes_nothing(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    p = write_jsonl(tmp_path / "c.jsonl", [case("C-1"), case("C-2", "账单重复扣费", tags=["产品线/计费系统"])])
    first = ingestor.ingest_paths([p])
    assert len(first.added) == 2 and first.chunks_written > 0
    audit_before = library.store.audit(library.tenant)
    gen_before = library.store.generation(library.tenant)
    kw_build = (library.settings.keyword_dir).rglob("manifest.json")
    builds_before = sorted(str(x) for x in kw_build)

    second = Ingestor(library).ingest_paths([p])
    assert second.to_dict()["unchanged"] == 2
    assert (second.added, second.updated, second.removed, second.chunks_written, second.embedded) == ([], [], [], 0, 0)
    assert library.store.audit(library.tenant) == audit_before
    assert library.store.generation(library.tenant) == gen_before
    assert sorted(str(x) for x in library.settings.keyword_dir.rglob("manifest.json")) == builds_before
    assert_consistent(library)


def test_update_replaces_exactly_its_chunks(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别")])])
    old_c1 = {c.id for c in library.store.chunks(library.tenant) if c.record_id == "C-1"}
    c2 = {c.id for c in library.store.chunks(library.tenant) if c.record_id == "C-2"}

    changed = case("C-1", solution="1. 关闭MAC地址过滤\n2. 重新连接")
    res = Ingestor(library).ingest_paths([write_jsonl(tmp_path / "b.jsonl", [changed])])
    assert res.updated == ["C-1"]
    new_c1 = {c.id for c in library.store.chunks(library.tenant) if c.record_id == "C-1"}
    # only the solution chunk changed; the other sections keep their ids
    assert len(old_c1 - new_c1) == 1 and len(new_c1 - old_c1) == 1
    assert next(iter(new_c1 - old_c1)).startswith("C-1#solution")
    assert c2 <= {c.id for c in library.store.chunks(library.tenant)}
    assert_consistent(library)
    _, vec_ids, kw_ids = index_state(library)
    assert not (old_c1 - new_c1) & (vec_ids | kw_ids)
    hits = library.search("MAC地址过滤", k=1)
    assert hits[0].id == "C-1" and hits[0].section == "solution"
    versions = library.store.versions(library.tenant, "C-1")
    assert [v.version for v in versions] == [1, 2]
    audit = library.store.audit(library.tenant, "C-1")
    assert [a.action for a in audit] == ["create", "update"] and audit[1].detail["fields"] == ["solution"]


def test_metadata_change_reaches_the_filters(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1")])])
    assert library.search("打印机", filters=Filters(tags=("产品线/打印机",)))
    Ingestor(library).ingest_paths([write_jsonl(tmp_path / "b.jsonl", [case("C-1", tags=["产品线/扫描仪"])])])
    assert not library.search("打印机", filters=Filters(tags=("产品线/打印机",)))
    assert [h.id for h in library.search("打印机", filters=Filters(tags=("产品线/扫描仪",)))] == ["C-1"]


def test_archive_and_delete_leave_both_indexes(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [
        case("C-1"), case("C-2", "打印机卡纸"), case("C-3", "打印机缺墨")])])
    assert {h.id for h in library.search("打印机", k=10)} == {"C-1", "C-2", "C-3"}

    res = Ingestor(library).ingest_paths([write_jsonl(tmp_path / "b.jsonl", [case("C-2", "打印机卡纸", status="archived")])])
    assert res.removed == ["C-2"]
    deleted, unknown = Ingestor(library).delete(["C-3", "C-404"])
    assert (deleted, unknown) == (["C-3"], ["C-404"])

    assert {h.id for h in library.search("打印机", k=10, filters=Filters(statuses=()))} == {"C-1"}
    assert {c.record_id for c in library.store.chunks(library.tenant)} == {"C-1"}
    assert_consistent(library)
    # the store keeps them: archived as a record, deleted in versions and the audit log
    assert library.store.get(library.tenant, "C-2").status == "archived"
    assert library.store.get(library.tenant, "C-3") is None
    assert library.store.audit(library.tenant, "C-3")[-1].action == "delete"
    # importing a deleted record again restores it
    again = Ingestor(library).ingest_paths([write_jsonl(tmp_path / "c.jsonl", [case("C-3", "打印机缺墨")])])
    assert again.added == ["C-3"]
    assert "C-3" in {h.id for h in library.search("缺墨", k=3)}


def test_cached_chunks_follow_every_writer(tmp_path: Path, settings, library: Library, ingestor: Ingestor) -> None:
    """Search keeps the chunks it read (they are content-addressed), but never past a change: its own
    store's write, or another process's (here: another library on its own store)."""
    ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "打印机卡纸")])])
    assert {h.id for h in library.search("打印机", k=10)} == {"C-1", "C-2"}
    reads = []
    chunks_by_id = library.store.chunks_by_id
    library.store.chunks_by_id = lambda *a: reads.append(a) or chunks_by_id(*a)  # type: ignore[method-assign]
    assert {h.id for h in library.search("打印机", k=10)} == {"C-1", "C-2"}
    assert reads == []  # served from the cache

    # a write through this store, with the indexes not told: the store still decides
    library.store.delete(library.tenant, ["C-2"], actor="test")
    assert any(i.startswith("C-2#") for i in library.keywords.ids())  # the index still holds it
    assert {h.id for h in library.retriever.retrieve("打印机", k=10)} == {"C-1"}
    assert reads
    Ingestor(library).ingest_paths([write_jsonl(tmp_path / "b.jsonl", [case("C-2", "打印机卡纸")])])  # back, in sync

    # another process deletes and archives through its own store and indexes
    other = Library(settings, embedder=HashEmbedder())
    Ingestor(other).delete(["C-2"])
    Ingestor(other).ingest_paths([write_jsonl(tmp_path / "c.jsonl", [case("C-1", status="archived")])])
    assert library.search("打印机", k=10) == []
    other.close()


def test_drafts_are_indexed_but_not_served_by_default(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1", status="in_review")])])
    assert library.search("打印机") == []
    assert [h.id for h in library.search("打印机", filters=Filters(statuses=("in_review",)))] == ["C-1"]


def test_tickets_are_stored_not_indexed(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    t = {"kind": "ticket", "id": "T-1", "subject": "打印机坏了",
         "messages": [{"id": "m1", "role": "customer", "text": "打印机坏了"}]}
    res = ingestor.ingest_paths([write_jsonl(tmp_path / "t.jsonl", [t])])
    assert res.added == ["T-1"] and res.chunks_written == 0
    assert library.store.get(library.tenant, "T-1").kind == "ticket"
    assert library.search("打印机") == []


def test_fields_a_record_does_not_store_are_named(tmp_path: Path, ingestor: Ingestor) -> None:
    typo = {k: v for k, v in case("C-1").items() if k != "solution"} | {"soluton": "1. 重启路由器", "source": "crm"}
    res = ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [typo, case("C-2") | {"source": "crm"}])])
    assert res.added == ["C-1", "C-2"]
    assert sorted(res.warnings) == [
        f"{tmp_path / 'a.jsonl'}: 'soluton' is not a case field and was not stored (line 1); did you mean 'solution'?",
        f"{tmp_path / 'a.jsonl'}: 'source' is not a case field and was not stored (lines 1, 2)",
    ]
    faq = tmp_path / "faq.csv"  # a misspelt optional column of an FAQ file is named the same way
    faq.write_text("id,question,answer,tag\nF-1,发票怎么开？,在后台申请。,产品线/计费系统\n", encoding="utf-8")
    assert ingestor.ingest_paths([faq]).warnings == [
        f"{faq}: 'tag' is not an article field and was not stored (line 2); did you mean 'tags'?"]


def test_duplicate_ids_in_one_import_are_rejected(tmp_path: Path, ingestor: Ingestor) -> None:
    p = write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-1", "另一个标题")])
    res = ingestor.ingest_paths([p])
    assert res.added == ["C-1"]
    assert res.rejected[0].line == 2 and "already given" in res.rejected[0].error


def test_model_id_guard_and_reindex(tmp_path: Path, settings, library: Library, ingestor: Ingestor) -> None:
    ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别")])])
    other = Library(settings, embedder=HashEmbedder(dim=128), store=library.store)
    with pytest.raises(ConfigError, match=r"hash-256.*hash-128.*casepilot reindex"):
        other.search("打印机")
    report = Ingestor(other).reindex()
    assert report["records"] == 2 and report["vectors"] == 4  # a title and a view each
    assert other.vectors.model_id == "hash-128"
    assert [h.id for h in other.search("扫码枪", k=1)] == ["C-2"]
    assert_consistent(other)


def test_reindex_rebuilds_lost_indexes(tmp_path: Path, settings, library: Library, ingestor: Ingestor) -> None:
    import shutil

    ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别")])])
    library.close()
    from chromadb.api.client import SharedSystemClient

    SharedSystemClient.clear_system_cache()  # as a new process would start
    shutil.rmtree(settings.chroma_dir)
    shutil.rmtree(settings.keyword_dir)
    fresh = Library(settings, embedder=HashEmbedder())
    report = Ingestor(fresh).reindex()
    assert report["vectors"] == 4 and report["embedded"] == 0  # vectors came from the cache
    assert [h.id for h in fresh.search("扫码枪", k=1)] == ["C-2"]
    assert_consistent(fresh)


def test_tenants_are_isolated(tmp_path: Path, settings, library: Library, ingestor: Ingestor) -> None:
    ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1")])])
    other = Library(settings, "team-b", embedder=HashEmbedder(), store=library.store)
    Ingestor(other).ingest_paths([write_jsonl(tmp_path / "b.jsonl", [case("C-9", "打印机卡纸")])])
    assert [h.id for h in library.search("打印机", k=10)] == ["C-1"]
    assert [h.id for h in other.search("打印机", k=10)] == ["C-9"]


def test_filters_never_leak_even_the_best_match(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    # C-1 matches the query best by far, but is filtered out by each filter in turn
    ingestor.ingest_paths([write_jsonl(tmp_path / "a.jsonl", [
        case("C-1", "打印机报错E-1024无法打印", product="HP-M227", tags=["产品线/打印机"]),
        case("C-2", "扫码枪无法识别条码", product="SC-100", tags=["产品线/扫码枪"]),
        case("C-3", "打印机卡纸", product="HP-M227", tags=["产品线/打印机"], status="draft"),
    ])])
    q = "打印机报错E-1024无法打印"
    assert library.search(q, k=1)[0].id == "C-1"
    for f in (Filters(products=("SC-100",)), Filters(tags=("产品线/扫码枪",)), Filters(kinds=("article",)),
              Filters(record_ids=("C-2",)), Filters(statuses=("draft",))):
        ids = [h.id for h in library.search(q, k=10, filters=f)]
        assert "C-1" not in ids, f
        for h in library.search(q, k=10, filters=f):
            rec = library.store.get(library.tenant, h.id)
            assert rec is not None and f.matches({"record_id": rec.id, "kind": rec.kind, "status": rec.status,
                                                  "product": rec.product, "tags": rec.data.get("tags", [])})
    # keyword and dense candidates are filtered inside each index, not after the top-k
    kw = library.keywords.query(["e-1024"], 10, Filters(products=("SC-100",)))
    assert all(not cid.startswith("C-1#") for cid, _ in kw)


def test_a_new_taxonomy_replaces_the_old_one_and_names_the_values_records_still_carry(
        tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    first = tmp_path / "t1" / "taxonomy.yaml"
    first.parent.mkdir()
    first.write_text("# 第一版\ndimensions:\n  产品线:\n    values:\n      扫码枪: {}\n      打印机: {}\n",
                     encoding="utf-8")
    ingestor.ingest_paths([first, write_jsonl(tmp_path / "a.jsonl", [
        case("C-1", tags=["产品线/打印机"]), case("C-2", "扫码枪无法识别条码", tags=["产品线/扫码枪"]),
        case("C-3", "扫码枪蜂鸣不停", tags=["产品线/扫码枪"])])])
    other = Library(library.settings, "B", store=library.store)  # another tenant of the same home
    Ingestor(other).ingest_paths([write_jsonl(tmp_path / "b.jsonl", [case("C-B", "扫码枪", tags=["产品线/扫码枪"])])])
    second = tmp_path / "t2" / "taxonomy.yaml"
    second.parent.mkdir()
    second.write_text("dimensions:\n  产品线:\n    values:\n      打印机: {}\n", encoding="utf-8")
    summary = ingestor.ingest_paths([second])
    assert summary.taxonomy == "1 dimensions, 1 values → tenant default (version 2)"
    assert library.taxonomy is not None and library.taxonomy.tags == ["产品线/打印机"]
    assert other.taxonomy is None  # tenant B has its own taxonomy (none), and its records do not count
    [warning] = summary.warnings
    assert "drops 1 values that stored records carry: 产品线/扫码枪 (2); the previous taxonomy is version 1" in warning
    # the version before is kept, as imported (comments too), and every change is audited
    before = library.stored_taxonomy(1)
    assert before is not None and before.source == first.read_text(encoding="utf-8")
    assert [(e.action, e.detail["version"]) for e in library.store.audit("default", "#taxonomy")] == [
        ("taxonomy", 1), ("taxonomy", 2)]
    again = ingestor.ingest_paths([second])  # the same file again: nothing dropped, no new version
    assert not again.warnings and again.taxonomy == "1 dimensions, 1 values → tenant default (version 2, unchanged)"
    assert library.store.taxonomy_version("default") == 2


def test_taxonomy_synonyms_expand_keyword_queries(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    tax = tmp_path / "taxonomy.yaml"
    tax.write_text("dimensions:\n  产品线:\n    values:\n      扫码枪: {synonyms: [条码扫描器, scanner]}\n", encoding="utf-8")
    ingestor.ingest_paths([tax, write_jsonl(tmp_path / "a.jsonl", [
        case("C-1"), case("C-2", "扫码枪无法识别条码", tags=["产品线/扫码枪"])])])
    assert library.taxonomy is not None
    tokens = library.retriever.chunk_retriever.parts[-1].tokens("scanner 不工作")
    from assistant.text import keyword_tokens

    assert set(keyword_tokens("扫码枪")) <= set(tokens)
    assert library.search("scanner不工作", k=1)[0].id == "C-2"

"""A case's history in the core: versions with what changed, diffs section by section, and restore as
a new audited version that search follows (hash embedder; real SQLite, Chroma, bm25s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import InputError, NotFound
from assistant.history import History, diff_data
from assistant.index.filters import Filters
from assistant.library import Library
from assistant.review import Review
from ingestion.pipeline import Ingestor
from tests.cli_run import run_cli
from tests.conftest import assert_indexes_match_store, case, write_jsonl

OLD = "1. 打开打印机的2.4GHz频段开关\n2. 重新连接无线网络"
NEW = "1. 更换主板上的蓝牙模块\n2. 重新连接无线网络"


@pytest.fixture
def edited(tmp_path: Path, library: Library, ingestor: Ingestor) -> Library:
    """C-1 at version 3: v1 imported, v2 solution and tags edited by alice, v3 title edited by bob."""
    ingestor.ingest_paths([write_jsonl(tmp_path / "lib.jsonl", [
        case("C-1", "打印机连不上WiFi", solution=OLD, tags=["产品线/打印机"]),
        case("C-2", "扫描仪卡纸", solution="清理进纸器")])])
    review = Review(library, writer=Ingestor)
    review.edit("C-1", "alice", {"solution": NEW, "tags": ["产品线/打印机", "问题类型/网络连接"]})
    review.edit("C-1", "bob", {"title": "打印机连不上WiFi（新固件）"})
    return library


def test_versions_list_who_when_and_what_changed(edited: Library) -> None:
    vs = History(edited).versions("C-1")
    assert [v.version for v in vs] == [1, 2, 3]
    assert [v.action for v in vs] == ["create", "update", "update"]
    assert [v.actor for v in vs] == ["import", "alice", "bob"]
    assert vs[0].changed == [] and vs[1].changed == ["solution", "tags"] and vs[2].changed == ["title"]
    assert vs[2].title == "打印机连不上WiFi（新固件）" and all(v.at for v in vs)


def test_diff_is_section_by_section(edited: Library) -> None:
    d = History(edited).diff("C-1", 1, 3)
    by = {c.field: c for c in d.changes}
    assert set(by) == {"title", "solution", "tags"}
    assert by["solution"].kind == "text"
    assert "-1. 打开打印机的2.4GHz频段开关" in by["solution"].diff
    assert "+1. 更换主板上的蓝牙模块" in by["solution"].diff
    assert " 2. 重新连接无线网络" in by["solution"].diff  # context is kept, unchanged
    assert by["tags"].kind == "list" and by["tags"].added == ["问题类型/网络连接"] and by["tags"].removed == []
    back = {c.field: c for c in History(edited).diff("C-1", 3, 1).changes}
    assert back["tags"].removed == ["问题类型/网络连接"] and back["tags"].added == []


def test_text_diff_is_by_sentence_within_a_line() -> None:
    a = {"problem": "打印机连不上网。客户很着急。重启无效。"}
    b = {"problem": "打印机连不上网。客户不着急。重启无效。", "severity": "P1"}
    [text, sev] = diff_data(a, b)
    assert text.diff == ["@@ -1,3 +1,3 @@", " 打印机连不上网。", "-客户很着急。", "+客户不着急。", " 重启无效。"]
    assert (sev.field, sev.kind, sev.before, sev.after) == ("severity", "value", None, "P1")


def test_restore_makes_a_new_version_that_search_follows(edited: Library) -> None:
    h = History(edited, writer=Ingestor)
    assert edited.search("蓝牙模块", 3, Filters.parse(["kind=case"]))[0].id == "C-1"
    version, _ = h.restore("C-1", 1, "carol")
    assert version == 4
    rec = edited.store.get(edited.tenant, "C-1")
    assert rec is not None and rec.version == 4 and rec.status == "approved"
    assert rec.data["solution"] == OLD and rec.data["title"] == "打印机连不上WiFi" and rec.data["reviewed_by"] == "carol"
    assert [v.version for v in edited.store.versions(edited.tenant, "C-1")] == [1, 2, 3, 4]  # nothing rewritten
    assert edited.store.versions(edited.tenant, "C-1")[1].data["solution"] == NEW
    last = edited.store.audit(edited.tenant, "C-1")[-1]
    assert (last.action, last.actor, last.detail) == ("restore", "carol", {"from": 1, "version": 4})
    info = h.versions("C-1")[-1]
    assert (info.action, info.restored_from, info.actor) == ("restore", 1, "carol")
    assert set(info.changed) == {"solution", "tags", "title"}
    hits = edited.search("2.4GHz频段开关", 3, Filters.parse(["kind=case"]))
    assert hits and hits[0].id == "C-1"
    assert [c for c in edited.store.chunks(edited.tenant) if c.record_id == "C-1" and "2.4GHz" in c.text]
    assert all(h_.id != "C-1" or "蓝牙" not in h_.snippet for h_ in edited.search("蓝牙模块", 5))
    assert not [c for c in edited.store.chunks(edited.tenant) if c.record_id == "C-1" and "蓝牙" in c.text]
    assert_indexes_match_store(edited)


def test_restore_refuses_clearly_and_writes_nothing(edited: Library) -> None:
    h = History(edited, writer=Ingestor)
    with pytest.raises(NotFound, match="no case or article 'C-9'"):
        h.restore("C-9", 1, "carol")
    with pytest.raises(NotFound, match=r"no version 7; it has versions 1\.\.3"):
        h.restore("C-1", 7, "carol")
    with pytest.raises(NotFound, match="no version 0"):
        h.diff("C-1", 0, 2)
    with pytest.raises(InputError, match="is the current version"):
        h.restore("C-1", 3, "carol")
    h.restore("C-1", 2, "carol")  # v4 holds v2's content ...
    with pytest.raises(InputError, match="holds what the current version 4 holds"):
        h.restore("C-1", 2, "dave")  # ... so restoring v2 again writes nothing
    assert edited.store.get(edited.tenant, "C-1").version == 4  # type: ignore[union-attr]
    assert [e.action for e in edited.store.audit(edited.tenant, "C-1")].count("restore") == 1


def test_cli_history_lists_diffs_and_restores(edited: Library) -> None:
    home = ["--home", str(edited.settings.home)]
    edited.close()
    env = {"CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash"}
    r = run_cli("history", "C-1", *home, env=env)
    assert r.returncode == 0, r.stderr
    assert "v2" in r.stdout and "alice" in r.stdout and "solution, tags" in r.stdout
    r = run_cli("history", "C-1", "--json", *home, env=env)
    assert [v["version"] for v in __import__("json").loads(r.stdout)["versions"]] == [1, 2, 3]
    r = run_cli("history", "C-1", "--diff", "1", "2", *home, env=env)
    assert r.returncode == 0 and "+1. 更换主板上的蓝牙模块" in r.stdout and "tags: + 问题类型/网络连接" in r.stdout
    r = run_cli("history", "C-1", "--restore", "1", "--reviewer", "carol", *home, env=env)
    assert r.returncode == 0, r.stderr
    assert "C-1: version 1 restored as version 4 by carol" in r.stdout
    r = run_cli("history", "C-1", "--restore", "4", *home, env=env)
    assert r.returncode == 2 and "is the current version" in r.stderr
    r = run_cli("history", "C-404", *home, env=env)
    assert r.returncode == 2 and "no case or article 'C-404'" in r.stderr
    r = run_cli("history", "C-1", "--diff", "1", "9", *home, env=env)
    assert r.returncode == 2 and "no version 9" in r.stderr
    r = run_cli("history", "--help")
    assert r.returncode == 0 and "--restore" in r.stdout and "--diff" in r.stdout

"""A folder kept in sync (casepilot ingest DIR --sync [--dry-run]), the progress an import shows, and
its table per file."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from api.cli.progress import ImportProgress
from assistant.library import Library
from assistant.settings import Settings
from tests.conftest import case


def article(rid: str, title: str, body: str) -> str:
    return f"---\nid: {rid}\ntitle: {title}\n---\n{body}\n"


def ingest(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, Any, str]:
    code = main(["ingest", "--home", str(home), "--embedder", "hash", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if "--json" in args else out, err


def live(home: Path) -> dict[str, str]:
    lib = Library(Settings(home=home, embedder="hash"))
    try:
        return {r.id: r.status for r in lib.store.records(lib.tenant)}
    finally:
        lib.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "kb"
    (d / "wifi").mkdir(parents=True)
    (d / "wifi" / "a.md").write_text(article("KB-A", "无线配置指南", "打开设置，选择WiFi。"), encoding="utf-8")
    (d / "b.md").write_text(article("KB-B", "打印机驱动安装", "下载驱动并安装。"), encoding="utf-8")
    (d / "faq.jsonl").write_text(
        json.dumps({"kind": "article", "id": "KB-C", "title": "如何重置密码", "body": "点击忘记密码。"},
                   ensure_ascii=False) + "\n" + json.dumps(case("C-1"), ensure_ascii=False) + "\n", encoding="utf-8")
    return d


def test_sync_imports_changes_and_removes_articles_whose_files_are_gone(
        folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    code, out, _ = ingest(capsys, home, str(folder), "--json")  # a plain import remembers the files too
    assert code == 0 and out["added"] == 4
    (folder / "wifi" / "a.md").unlink()  # an article's file is gone
    (folder / "b.md").write_text(article("KB-B", "打印机驱动安装", "从官网下载最新驱动并安装。"), encoding="utf-8")
    (folder / "faq.jsonl").write_text(json.dumps({"kind": "article", "id": "KB-D", "title": "新文章", "body": "正文"},
                                                 ensure_ascii=False) + "\n", encoding="utf-8")  # KB-C and C-1 gone
    (folder / "new.md").write_text(article("KB-E", "新增文章", "内容。"), encoding="utf-8")
    before = live(home)

    code, plan, _ = ingest(capsys, home, str(folder), "--sync", "--dry-run", "--json")
    assert code == 0 and plan["dry_run"] is True
    assert (plan["added"], plan["updated"], plan["unchanged"], plan["removed"]) == (2, 1, 0, 2)
    assert {g["id"]: g["reason"] for g in plan["sync"]["removed"]} == {"KB-A": "its file is gone",
                                                                       "KB-C": "its file no longer holds it"}
    assert [g["id"] for g in plan["sync"]["kept"]] == ["C-1"]  # a case is listed, not removed
    assert live(home) == before  # the dry run changed nothing

    code, text, _ = ingest(capsys, home, str(folder), "--sync", "--dry-run")
    assert "would add 2, update 1" in text and "remove  KB-A" in text and "keep    C-1" in text

    code, out, _ = ingest(capsys, home, str(folder), "--sync", "--json")
    assert code == 0 and (out["added"], out["updated"], len(out["sync"]["removed"])) == (2, 1, 2)
    after = live(home)
    assert "KB-A" not in after and "KB-C" not in after and {"KB-B", "KB-D", "KB-E", "C-1"} <= set(after)
    files = {Path(r["file"]).name: r for r in out["files"]}
    assert files["a.md"]["removed"] == 1 and "its file is gone" in files["a.md"]["why"][0]

    code, out, _ = ingest(capsys, home, str(folder), "--sync", "--json")  # in step: nothing to do
    assert (out["added"], out["updated"], out["removed"], out["unchanged"]) == (0, 0, 0, 3)


def test_a_file_read_with_errors_removes_nothing(folder: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    ingest(capsys, home, str(folder))
    (folder / "faq.jsonl").write_text("{oops\n" + json.dumps(case("C-1"), ensure_ascii=False) + "\n",
                                      encoding="utf-8")  # KB-C's line is now the bad one
    code, out, _ = ingest(capsys, home, str(folder), "--sync", "--json")
    assert code == 2 and out["sync"]["removed"] == [] and "KB-C" in live(home)


def test_sync_refuses_a_folder_that_does_not_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--home", str(tmp_path / "h"), "--embedder", "hash", str(tmp_path / "nope"), "--sync"]) == 2
    assert "nothing was synced" in capsys.readouterr().err
    assert main(["ingest", "--home", str(tmp_path / "h"), str(tmp_path), "--dry-run"]) == 2


def test_the_table_per_file_says_what_was_skipped_and_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(case("C-1"), ensure_ascii=False) + "\n", encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(case("C-2"), ensure_ascii=False) + "\n{oops\n", encoding="utf-8")
    code, text, _ = ingest(capsys, tmp_path / "h", str(good), str(bad))
    assert code == 2
    lines = text.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.startswith("file "))
    assert lines[head].split()[1:] == ["added", "updated", "unchanged", "removed", "skipped"]
    assert lines[head + 1].split()[1:] == ["1", "0", "0", "0", "0"] and lines[head + 1].endswith("0")
    assert lines[head + 2].split()[1:] == ["1", "0", "0", "0", "1"]
    assert lines[head + 3].strip().startswith("line 2: invalid JSON")


def test_progress_plain_lines_off_a_terminal() -> None:
    out = io.StringIO()
    p = ImportProgress(100, out, tty=False, after=0.0, every=0.0)
    time.sleep(0.01)
    p.update(40)
    p.stats(chunks=120, embedded=80, embed_seconds=2.0)
    p.close()
    line = out.getvalue().strip()
    assert line.startswith("ingest: 40/100 records (40%), 120 chunks, 40 texts/s embedded")
    assert "left" in line and "\r" not in line


def test_progress_is_quiet_for_a_short_import_and_a_bar_on_a_terminal() -> None:
    quiet = io.StringIO()
    p = ImportProgress(10, quiet, tty=False)  # lines start after 2 s
    p.update(10)
    p.stats(5, 5, 0.1)
    assert quiet.getvalue() == ""
    tty = io.StringIO()
    bar = ImportProgress(10, tty, tty=True)
    bar.update(5)
    bar.stats(chunks=30, embedded=20, embed_seconds=1.0)
    bar.close()
    drawn = tty.getvalue()
    assert "5/10" in drawn and "30 chunks" in drawn and "20 texts/s embedded" in drawn

"""No review is lost to a re-import (issue 22): a record changed in review since its last import is
kept when the file's version differs from that import, reported as a conflict (exit 2 on the command
line, 409 over HTTP with wait=true), and replaced only with --overwrite-reviewed, audited."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from api.config import ApiSettings
from assistant.library import Library
from assistant.review import Review
from assistant.store import StoredRecord
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl
from tests.test_api import Server, client, is_problem, settings_for, wait_job
from tests.test_cli import run

REVIEWED = "1. 重启设备\n2. 按审核意见：先升级固件再重新配置"


def stored(lib: Library, rid: str) -> StoredRecord:
    rec = lib.store.get(lib.tenant, rid)
    assert rec is not None, rid
    return rec


def test_a_review_edit_survives_a_reimport_of_a_changed_file(tmp_path: Path, library: Library) -> None:
    Ingestor(library).ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别")])])
    Review(library, writer=Ingestor).edit("C-1", "alice", {"solution": REVIEWED})
    changed = write_jsonl(tmp_path / "b.jsonl", [case("C-1", outcome="客户已回访。"),
                                                 case("C-2", "扫码枪无法识别", outcome="客户已回访。")])
    res = Ingestor(library).ingest_paths([changed])
    assert stored(library, "C-1").data["solution"] == REVIEWED  # kept
    assert res.updated == ["C-2"]  # the rest is imported
    [c] = res.conflicts
    assert c == {"id": "C-1", "reviewed_version": 2, "reviewed_by": "alice", "reviewed_at": c["reviewed_at"],
                 "imported_version": 1, "file": f"{changed}:1", "applied": False}
    assert res.to_dict()["conflicts"] == [c]

    over = Ingestor(library, overwrite_reviewed=True).ingest_paths([changed])
    rec = stored(library, "C-1")
    assert rec.data["solution"] != REVIEWED and rec.data["outcome"] == "客户已回访。" and rec.version == 3
    assert over.updated == ["C-1"] and not over.conflicts and [o["id"] for o in over.overwritten] == ["C-1"]
    entry = library.store.audit(library.tenant, "C-1")[-1]
    assert entry.action == "overwrite_reviewed" and entry.detail["replaced_version"] == 2
    assert entry.detail["replaced_by"] == "alice" and entry.detail["version"] == 3
    # that was an import: the next re-import of the same file changes nothing
    again = Ingestor(library).ingest_paths([changed])
    assert again.unchanged == ["C-1", "C-2"] and not again.conflicts


def test_an_unchanged_file_after_review_changes_nothing(tmp_path: Path, library: Library) -> None:
    src = write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别", status="in_review")])
    Ingestor(library).ingest_paths([src])
    review = Review(library, writer=Ingestor)
    review.edit("C-1", "alice", {"solution": REVIEWED})
    review.approve("C-2", "bob", {"outcome": "已解决。"})
    res = Ingestor(library).ingest_paths([src])
    assert stored(library, "C-1").data["solution"] == REVIEWED
    c2 = stored(library, "C-2")
    assert c2.status == "approved" and c2.data["reviewed_by"] == "bob" and c2.version == 2
    assert not res.updated and res.unchanged == ["C-1", "C-2"]  # nothing applied, and no conflict either
    assert not res.conflicts and res.kept_reviewed == ["C-1", "C-2"]


def test_cli_reimport_after_review_edit_exits_2_and_overwrite_is_audited(tmp_path: Path) -> None:
    home = tmp_path / "home"
    src = write_jsonl(tmp_path / "cases.jsonl", [case("C-000114"), case("C-000115", "扫码枪无法识别")])
    assert run(home, "ingest", str(src)).returncode == 0
    r = run(home, "review", "edit", "C-000114", f"solution={REVIEWED}", "--as", "alice")
    assert r.returncode == 0, r.stderr
    changed = write_jsonl(tmp_path / "cases.jsonl", [case("C-000114", outcome="客户已回访。"),
                                                     case("C-000115", "扫码枪无法识别", outcome="客户已回访。")])
    r = run(home, "ingest", str(changed))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "1 updated" in r.stdout and "1 conflicts" in r.stdout
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("conflict:"))
    assert "C-000114" in line and "version 2 by alice" in line and f"{changed}:1" in line  # both versions named

    r = run(home, "ingest", str(changed), "--json")
    assert r.returncode == 2
    out = json.loads(r.stdout)
    assert [c["id"] for c in out["conflicts"]] == ["C-000114"] and out["conflicts"][0]["reviewed_version"] == 2
    assert "conflict: C-000114" in r.stderr
    lib = Library(settings_for(home))
    try:
        assert stored(lib, "C-000114").data["solution"] == REVIEWED
    finally:
        lib.close()

    r = run(home, "ingest", str(changed), "--overwrite-reviewed", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["updated"] == 1 and out["conflicts"] == [] and out["overwritten"][0]["id"] == "C-000114"
    lib = Library(settings_for(home))
    try:
        assert stored(lib, "C-000114").data["outcome"] == "客户已回访。"
        entry = lib.store.audit(lib.tenant, "C-000114")[-1]
        assert entry.action == "overwrite_reviewed" and entry.detail["replaced_version"] == 2
    finally:
        lib.close()
    assert run(home, "ingest", str(changed)).returncode == 0  # nothing in conflict any more


@pytest.fixture
def api(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from api.auth import create_key

    settings = settings_for(tmp_path / "home")
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    st = app.state.casepilot
    key = create_key(st.http, "A", "admin", "A admin")
    lib = Library(settings, "A", store=st.store)
    Ingestor(lib).ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "扫码枪无法识别")])])
    Review(lib, writer=Ingestor).edit("C-1", "alice", {"solution": REVIEWED})
    with Server(app) as srv:
        yield {"url": srv.url, "keys": {"A-admin": key["key"]}, "lib": lib}


def test_http_import_reports_the_conflict_409_when_waited_and_in_the_job(api: dict[str, Any]) -> None:
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in [
        case("C-1", outcome="客户已回访。"), case("C-2", "扫码枪无法识别", outcome="客户已回访。")]).encode()
    lib = api["lib"]
    ndjson = {"Content-Type": "application/x-ndjson"}
    with client(api, "A-admin") as c:
        p = is_problem(c.post("/v1/imports", params={"wait": "true"}, content=body, headers=ndjson), 409, "conflict")
        [conflict] = p["conflicts"]
        assert conflict["id"] == "C-1" and conflict["reviewed_version"] == 2 and conflict["reviewed_by"] == "alice"
        assert conflict["file"] == "upload:1" and "C-1" in p["detail"] and "version 2 by alice" in p["detail"]
        assert p["job"]["summary"]["updated"] == 1
        assert stored(lib, "C-1").data["solution"] == REVIEWED

        r = c.post("/v1/imports", content=body, headers=ndjson)  # in the background: in the job's result
        assert r.status_code == 202
        j = wait_job(c, r.json()["id"])
        assert j["status"] == "done" and [x["id"] for x in j["summary"]["conflicts"]] == ["C-1"]

        r = c.post("/v1/imports", params={"wait": "true", "overwrite_reviewed": "true"}, content=body, headers=ndjson)
        assert r.status_code == 200, r.text
        assert r.json()["summary"]["updated"] == 1 and r.json()["summary"]["overwritten"][0]["id"] == "C-1"
    assert stored(lib, "C-1").data["outcome"] == "客户已回访。"
    assert lib.store.audit(lib.tenant, "C-1")[-1].action == "overwrite_reviewed"

"""A case's history over HTTP, against a real uvicorn on SQLite and on PostgreSQL (the ``env`` of
tests/test_api.py): versions, diffs, restore by reviewers, and what agents may read."""

from __future__ import annotations

from typing import Any

from tests.test_api import client, env, is_problem  # noqa: F401  (env: the module's server fixture)


def test_versions_diff_and_restore_over_http(env: dict[str, Any]) -> None:  # noqa: F811
    with client(env, "A-agent") as c:
        is_problem(c.get("/v1/cases/C-DRAFT-A/versions"), 404)  # a draft: only reviewers read it
    with client(env, "A-reviewer") as c:
        r = c.post("/v1/review/C-2/edit", json={"edits": {"solution": "1. 联系售后更换碎纸刀组"}})
        assert r.status_code == 200, r.text
        now = r.json()["version"]
        vs = c.get("/v1/cases/C-2/versions").json()["versions"]
        assert [v["version"] for v in vs][-2:] == [now - 1, now] and vs[-1]["changed"] == ["solution"]
        assert vs[0]["action"] == "create" and vs[-1]["actor"].endswith("(A reviewer)")
        d = c.get("/v1/cases/C-2/diff", params={"from": 1, "to": now}).json()
        [sol] = [x for x in d["changes"] if x["field"] == "solution"]
        assert "+1. 联系售后更换碎纸刀组" in sol["diff"] and "-2. 反转取出卡片" in sol["diff"]
        is_problem(c.get("/v1/cases/C-2/diff", params={"from": 1, "to": 99}), 404, "not_found")
        is_problem(c.get("/v1/cases/C-2/diff", params={"from": 1}), 422)
        is_problem(c.post("/v1/cases/C-2/restore", json={"version": now}), 400)  # the current one: nothing written
        r = c.post("/v1/cases/C-2/restore", json={"version": 1})
        assert r.status_code == 200, r.text
        assert r.json() == {"id": "C-2", "version": now + 1, "restored_from": 1, "status": "approved", "warnings": []}
        last = c.get("/v1/cases/C-2/versions").json()["versions"][-1]
        assert (last["action"], last["restored_from"]) == ("restore", 1) and last["actor"].endswith("(A reviewer)")
        hits = c.post("/v1/search", json={"query": "反转取出卡片", "k": 3}).json()["results"]
        assert hits and hits[0]["id"] == "C-2"
        assert c.get("/v1/cases/C-2").json()["data"]["solution"] == "1. 断电\n2. 反转取出卡片"
        is_problem(c.post("/v1/cases/C-none/restore", json={"version": 1}), 404, "not_found")
        is_problem(c.post("/v1/cases/C-2/restore", json={"version": 99}), 404, "not_found")
        is_problem(c.post("/v1/cases/C-2/restore", json={"version": 0}), 422)
        r = c.post("/v1/review/C-DRAFT-A/approve", json={})
        assert r.status_code == 200, r.text
        assert [v["status"] for v in c.get("/v1/cases/C-DRAFT-A/versions").json()["versions"]] == [
            "in_review", "approved"]
    with client(env, "A-agent") as c:
        assert c.get("/v1/cases/C-2/versions").status_code == 200  # approved: agents read it
        # the draft's wording before approval is the reviewers' only
        [shown] = c.get("/v1/cases/C-DRAFT-A/versions").json()["versions"]
        assert (shown["status"], shown["changed"]) == ("approved", [])  # nothing told of the hidden draft
        is_problem(c.get("/v1/cases/C-DRAFT-A/diff", params={"from": 1, "to": 2}), 404, "not_found")
        assert c.get("/v1/cases/C-DRAFT-A/diff", params={"from": 2, "to": 2}).status_code == 200
        is_problem(c.get("/v1/cases/T-A/diff", params={"from": 1, "to": 1}), 404)  # a ticket is no case
        is_problem(c.post("/v1/cases/C-2/restore", json={"version": 1}), 403, "forbidden")
    with client(env, "B-admin") as c:  # another tenant's key finds nothing of A's
        is_problem(c.get("/v1/cases/C-2/versions"), 404)
        is_problem(c.post("/v1/cases/C-2/restore", json={"version": 1}), 404)


def test_the_http_version_row_is_the_cores() -> None:
    from dataclasses import fields

    from api.schemas.history import FieldDiffOut, VersionOut
    from assistant.history import FieldDiff, VersionInfo

    assert list(VersionOut.model_fields) == [f.name for f in fields(VersionInfo)]
    assert list(FieldDiffOut.model_fields) == [f.name for f in fields(FieldDiff)]

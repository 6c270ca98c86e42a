"""Reviewer-curated answers over HTTP, against a real uvicorn on SQLite and on PostgreSQL (the ``env``
of tests/test_api.py): reviewers write, edit and retire them; agents' questions that mean the same get
them through /v1/ask (JSON and stream), /v1/chat and /v1/chat/completions (plain and stream), labelled;
hits are counted; another tenant sees none of it."""

from __future__ import annotations

import json
from typing import Any

from tests.test_api import client, env, is_problem, sse_events  # noqa: F401  (env: the module's server fixture)

Q = "碎纸机吞卡了怎么办"
ANSWER = "先断电，再按反转键退出卡片；卡片折断时请联系售后更换碎纸刀组。"


def test_reviewers_curate_and_agents_get_the_curated_answer_everywhere(env: dict[str, Any]) -> None:  # noqa: F811
    with client(env, "A-agent") as c:
        is_problem(c.post("/v1/curated", json={"question": Q, "answer": ANSWER}), 403, "forbidden")
        is_problem(c.get("/v1/curated"), 403, "forbidden")
    with client(env, "A-reviewer") as c:
        r = c.post("/v1/curated", json={"question": Q, "answer": ANSWER})
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["id"] == "CA-1" and made["version"] == 1 and made["reviewer"].endswith("(A reviewer)")
        is_problem(c.post("/v1/curated", json={"question": "碎紙機吞卡了，怎麼辦？", "answer": "x"}), 409, "conflict")
        is_problem(c.post("/v1/curated", json={"answer": ANSWER}), 422)
        is_problem(c.post("/v1/curated", json={"question": Q, "answer": "  "}), 422)
    with client(env, "A-agent") as c:
        a = c.post("/v1/ask", json={"question": "碎紙機吞卡了怎麼辦"}).json()
        assert a["answer"] == ANSWER and a["engine"] == "curated" and a["citations"] == [] and not a["abstained"]
        label = a["curated"]
        assert label["id"] == "CA-1" and label["version"] == 1 and label["exact"] is True
        assert label["reviewer"] == made["reviewer"] and label["date"] == made["updated_at"]
        plain = c.post("/v1/ask", json={"question": "打印机连不上WiFi怎么办"}).json()
        assert plain["curated"] is None and plain["citations"]  # another question: composed as before
        events = sse_events(c, "/v1/ask", {"question": Q, "stream": True})
        assert [e for e, _ in events] == ["sources", "answer"]
        assert events[-1][1]["curated"]["id"] == "CA-1" and events[-1][1]["answer"] == ANSWER
        chat = c.post("/v1/chat", json={"thread_id": "curated-thread", "question": Q}).json()
        assert chat["curated"]["id"] == "CA-1"
        out = c.post("/v1/chat/completions", json={"model": "casepilot", "messages": [
            {"role": "user", "content": Q}]}).json()
        content = out["choices"][0]["message"]["content"]
        assert content.startswith(ANSWER) and "审定的答案 CA-1" in content
        assert out["casepilot"]["curated"]["id"] == "CA-1"
        with c.stream("POST", "/v1/chat/completions", json={"model": "casepilot", "stream": True, "messages": [
                {"role": "user", "content": Q}]}) as r:
            lines = [ln[6:] for ln in r.iter_lines() if ln.startswith("data: ")]
        chunks = [json.loads(x) for x in lines[:-1]]
        streamed = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks)
        assert lines[-1] == "[DONE]" and streamed.startswith(ANSWER) and "审定的答案 CA-1" in streamed
        assert chunks[-1]["casepilot"]["curated"]["id"] == "CA-1"
    with client(env, "A-reviewer") as c:
        [row] = c.get("/v1/curated").json()["curated"]
        assert row["id"] == "CA-1" and row["hits"] == 5 and row["last_hit_at"]  # ask, stream, chat, 2 completions
        assert c.get("/v1/curated/CA-1").json()["hits"] == 5


def test_correct_edit_retire_and_versions(env: dict[str, Any]) -> None:  # noqa: F811
    with client(env, "A-agent") as c:
        wrong = c.post("/v1/ask", json={"question": "打印机开启2.4GHz频段后还是连不上"}).json()
    with client(env, "A-reviewer") as c:
        r = c.post("/v1/curated", json={"from_answer": wrong["id"], "answer": "请重启打印机后再在面板上重新配网。"})
        assert r.status_code == 201, r.text
        fixed = r.json()
        assert fixed["source_answer_id"] == wrong["id"] and fixed["question"] == "打印机开启2.4GHz频段后还是连不上"
        cid = fixed["id"]
        is_problem(c.post("/v1/curated", json={"from_answer": "0" * 32, "answer": "x"}), 404, "not_found")
        is_problem(c.post("/v1/curated", json={"from_answer": "../x", "answer": "x"}), 422)
        r = c.post(f"/v1/curated/{cid}/edit", json={"answer": "请先升级打印机固件，再重新配网。"})
        assert r.status_code == 200 and r.json()["version"] == 2, r.text
        is_problem(c.post(f"/v1/curated/{cid}/edit", json={"answer": "请先升级打印机固件，再重新配网。"}), 409)
        is_problem(c.post(f"/v1/curated/{cid}/edit", json={}), 422)
    with client(env, "A-agent") as c:
        a = c.post("/v1/ask", json={"question": "打印机开启2.4GHz频段后还是连不上？"}).json()
        assert a["answer"] == "请先升级打印机固件，再重新配网。" and a["curated"]["version"] == 2
    with client(env, "A-reviewer") as c:
        r = c.post(f"/v1/curated/{cid}/retire", json={"reason": "固件已修复"})
        assert r.status_code == 200 and r.json()["status"] == "retired" and r.json()["version"] == 3
        is_problem(c.post(f"/v1/curated/{cid}/retire"), 409, "conflict")
        is_problem(c.post(f"/v1/curated/{cid}/edit", json={"answer": "x"}), 409, "conflict")
        vs = c.get(f"/v1/curated/{cid}/versions").json()["versions"]
        assert [(v["version"], v["action"]) for v in vs] == [(1, "create"), (2, "edit"), (3, "retire")]
        assert vs[-1]["reason"] == "固件已修复"
        assert cid not in {x["id"] for x in c.get("/v1/curated").json()["curated"]}
        assert cid in {x["id"] for x in c.get("/v1/curated", params={"retired": "true"}).json()["curated"]}
        is_problem(c.get("/v1/curated/CA-999"), 404, "not_found")
        is_problem(c.get("/v1/curated/C-1"), 422)
        is_problem(c.get("/v1/curated/CA-999/versions"), 404, "not_found")
    with client(env, "A-agent") as c:
        assert c.post("/v1/ask", json={"question": "打印机开启2.4GHz频段后还是连不上"}).json()["curated"] is None


def test_another_tenant_sees_and_gets_none_of_them(env: dict[str, Any]) -> None:  # noqa: F811
    with client(env, "A-reviewer") as c:
        r = c.post("/v1/curated", json={"question": "冷链疫苗运输温控报警怎么办", "answer": "甲租户的审定答案"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
    with client(env, "B-admin") as b:
        assert b.get("/v1/curated", params={"retired": "true"}).json()["curated"] == []
        is_problem(b.get(f"/v1/curated/{cid}"), 404)
        is_problem(b.post(f"/v1/curated/{cid}/retire"), 404)
        is_problem(b.post(f"/v1/curated/{cid}/edit", json={"answer": "乙改的"}), 404)
        is_problem(b.get(f"/v1/curated/{cid}/versions"), 404)
        a = b.post("/v1/ask", json={"question": "冷链疫苗运输温控报警怎么办"}).json()
        assert a["curated"] is None and "甲租户" not in a["answer"]
    with client(env, "A-reviewer") as c:
        assert c.get(f"/v1/curated/{cid}").json()["status"] == "active"


def test_the_http_rows_are_the_cores() -> None:
    from dataclasses import fields

    from api.schemas.curated import CuratedOut, CuratedVersionOut
    from assistant.store import CuratedAnswer, CuratedVersion

    assert list(CuratedOut.model_fields) == [f.name for f in fields(CuratedAnswer)]
    assert list(CuratedVersionOut.model_fields) == [f.name for f in fields(CuratedVersion)]

"""The HTTP API against a real uvicorn on loopback, called with httpx and with the real ``openai``
client (streaming included): every route, the roles, tenant isolation and the limits."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.records import parse_record
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import BACKENDS, case, write_jsonl

A_ONLY = "碎纸机吞卡"  # words only tenant A's cases hold
B_ONLY = "冷链疫苗运输温控报警"  # words only tenant B's cases hold


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """uvicorn serving ``app`` in a thread on a free loopback port."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def settings_for(home: Path) -> Settings:
    return Settings(home=home, embedder="hash", passage_embedder="hash", abstain_below=0.0, ingest_batch_size=8)


@pytest.fixture(scope="module", params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The API over a home whose store is SQLite, then over a PostgreSQL database."""
    d = tmp_path_factory.mktemp("api")
    settings = settings_for(d / "home")
    if request.param == "postgresql":
        settings.database_url = request.getfixturevalue("postgres").database()
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    st = app.state.casepilot
    keys = {f"{t}-{r}": create_key(st.http, t, r, f"{t} {r}") for t in ("A", "B") for r in ("agent", "reviewer", "admin")}
    for tenant, cases in {
        "A": [case("C-1", "打印机连不上WiFi：路由器只开了5GHz", problem="客户的打印机搜不到家里的WiFi。",
                   diagnosis="根因是路由器关闭了2.4GHz频段。", solution="1. 登录路由器后台\n2. 开启2.4GHz频段"),
              case("C-2", f"{A_ONLY}怎么处理", problem=f"客户的{A_ONLY}，机器停止工作。",
                   solution="1. 断电\n2. 反转取出卡片"),
              case("C-DRAFT-A", "打印机卡纸的草稿", status="in_review"),
              {"kind": "ticket", "id": "T-A", "subject": "打印机连不上WiFi",
               "messages": [{"id": "m1", "role": "customer", "text": "打印机连不上网了"},
                            {"id": "m2", "role": "agent", "text": "请登录路由器后台，开启2.4GHz频段。"},
                            {"id": "m3", "role": "customer", "text": "好了，可以打印了，谢谢。"}]},
              {"kind": "ticket", "id": "T-NO-ANSWER", "subject": "打印机卡纸",
               "messages": [{"id": "m1", "role": "customer", "text": "打印机卡纸了"}]}],
        "B": [case("C-B1", f"{B_ONLY}的处理", problem=f"{B_ONLY}，货物有风险。",
                   solution="1. 检查温控探头\n2. 转运至备用冷库", tags=["产品线/物流"], product="冷链"),
              case("C-B2", "打印机连不上WiFi：B租户的方案", problem="B租户打印机搜不到WiFi。",
                   solution="1. 找B租户的IT\n2. 重启B租户的路由器", product="B-only"),
              case("C-B-DRAFT", "B的草稿", status="in_review")],
    }.items():
        from assistant.library import Library

        lib = Library(settings, tenant, store=st.store)
        Ingestor(lib).ingest_paths([write_jsonl(d / f"{tenant}.jsonl", cases)])
    with Server(app) as srv:
        yield {"url": srv.url, "keys": {k: v["key"] for k, v in keys.items()},
               "ids": {k: v["id"] for k, v in keys.items()}, "app": app}


def client(env: dict[str, Any], who: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {env['keys'][who]}"} if who else {}
    return httpx.Client(base_url=env["url"], headers=headers, timeout=60)


def is_problem(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body) and body["status"] == status
    if code:
        assert body["code"] == code, body
    return body


# ---- health, metrics, OpenAPI --------------------------------------------------------------------


def test_health_ready_metrics_need_no_key(env: dict[str, Any]) -> None:
    with client(env, None) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/readyz").json()["status"] == "ready"
        c.post("/v1/search", json={"query": "x"})
        m = c.get("/metrics").text
    assert 'casepilot_http_requests_total{method="POST",route="/v1/search",status="401"}' in m
    assert "casepilot_retrieval_seconds" in m and "casepilot_model_calls_total" in m


def test_openapi_documents_every_route(env: dict[str, Any]) -> None:
    doc = httpx.get(env["url"] + "/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), (method, path)
            assert "200" in op["responses"] or "201" in op["responses"] or "202" in op["responses"] \
                or "204" in op["responses"], (method, path)
            if path.startswith("/v1/"):
                assert "application/problem+json" in op["responses"]["401"]["content"], (method, path)
    schemas = doc["components"]["schemas"]
    for name in ("AskRequest", "AnswerOut", "SearchRequest", "ImportJobOut", "ProblemOut", "ChatCompletionRequest"):
        assert schemas[name].get("examples"), name


# ---- answers ---------------------------------------------------------------------------------------


def test_ask_json_answer_with_citations(env: dict[str, Any]) -> None:
    with client(env, "A-agent") as c:
        r = c.post("/v1/ask", json={"question": "打印机连不上WiFi怎么办", "ticket_id": "T-A"})
    a = r.json()
    assert r.status_code == 200, a
    assert not a["abstained"] and a["citations"] and a["citations"][0]["id"] == "C-1"
    assert "[C-1]" in a["answer"] and {"id", "answer", "citations", "abstained", "related"} <= set(a)


def sse_events(c: httpx.Client, path: str, body: dict[str, Any], **kw: Any) -> list[tuple[str, Any]]:
    events = []
    with c.stream("POST", path, json=body, **kw) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    return events


def test_ask_streams_deltas_then_the_verified_answer(env: dict[str, Any]) -> None:
    with client(env, "A-agent") as c:
        events = sse_events(c, "/v1/ask", {"question": "打印机连不上WiFi怎么办"}, headers={"Accept": "text/event-stream"})
        plain = c.post("/v1/ask", json={"question": "打印机连不上WiFi怎么办"}).json()
    assert [e for e, _ in events[:2]] == ["sources", "delta"] and events[-1][0] == "answer"
    assert events[0][1]["answer_id"] == events[-1][1]["id"] and events[0][1]["sources"][0]["id"] == "C-1"
    assert events[-1][1]["citations"][0]["id"] == "C-1"
    assert set(events[-1][1]) == set(plain)  # the same shape as the JSON answer


def test_chat_streams_and_stores_the_turns_a_follow_up_reads(env: dict[str, Any]) -> None:
    with client(env, "A-agent") as c:
        events = sse_events(c, "/v1/chat", {"thread_id": "chat-sse", "question": "打印机连不上WiFi怎么办", "stream": True})
        assert [e for e, _ in events][-1] == "answer" and "delta" in [e for e, _ in events]
        first = events[-1][1]
        assert first["citations"][0]["id"] == "C-1"
        st = env["app"].state.casepilot
        turns = st.store.turns("A", "chat-sse")
        assert [(t.role, t.answer_id) for t in turns] == [("user", None), ("assistant", first["id"])]
        # the follow-up is resolved against the stored turns: retrieval carries the earlier question's words
        events = sse_events(c, "/v1/chat", {"thread_id": "chat-sse", "question": "那要开哪个频段？"},
                            headers={"Accept": "text/event-stream"})
        assert events[-1][0] == "answer" and events[-1][1]["citations"][0]["id"] == "C-1"
        assert len(st.store.turns("A", "chat-sse")) == 4
        # a rejected question stores nothing and is a problem, not a stream
        is_problem(c.post("/v1/chat", json={"thread_id": "chat-sse", "question": "打" * 2001, "stream": True}), 422,
                   "question_too_long")
        r = c.post("/v1/chat", json={"thread_id": "  ", "question": "打印机", "stream": True})
        assert r.status_code in (400, 422) and r.headers["content-type"].startswith("application/problem+json")
    assert len(st.store.turns("A", "chat-sse")) == 4


def test_chat_keeps_turns_and_feedback_rates_answers(env: dict[str, Any]) -> None:
    with client(env, "A-agent") as c:
        a1 = c.post("/v1/chat", json={"thread_id": "chat-1", "question": "打印机连不上WiFi怎么办"}).json()
        a2 = c.post("/v1/chat", json={"thread_id": "chat-1", "question": "那要开哪个频段？"}).json()
        assert a1["id"] != a2["id"]
        r = c.post(f"/v1/answers/{a2['id']}/feedback", json={"helpful": False, "comment": "步骤过时了"})
        assert r.status_code == 201 and r.json()["helpful"] is False
        is_problem(c.post("/v1/answers/nope/feedback", json={"helpful": True}), 404, "not_found")
    st = env["app"].state.casepilot
    assert [t.role for t in st.store.turns("A", "chat-1")] == ["user", "assistant"] * 2


def test_question_and_conversation_caps(env: dict[str, Any]) -> None:
    with client(env, "A-agent") as c:
        is_problem(c.post("/v1/ask", json={"question": "打" * 2001}), 422, "question_too_long")
        blank = is_problem(c.post("/v1/ask", json={"question": " \u3000 "}), 422, "validation_error")
        assert blank["detail"] == "body.question: is empty or only white space"
        turns = [{"role": "user", "text": "x"}] * 51
        is_problem(c.post("/v1/ask", json={"question": "打印机", "conversation": turns}), 422, "conversation_too_long")
        is_problem(c.post("/v1/ask", json={"question": "打印机", "ticket_id": "T-none"}), 404, "not_found")
        long_turn = [{"role": "user", "content": "打" * 100_001}, {"role": "assistant", "content": "好"},
                     {"role": "user", "content": "打印机连不上"}]
        is_problem(c.post("/v1/chat/completions", json={"model": "casepilot", "messages": long_turn}), 422,
                   "conversation_too_long")


def test_gaps_list_abstentions(env: dict[str, Any]) -> None:
    with client(env, "A-reviewer") as c:
        r = c.get("/v1/gaps", params={"limit": 5})
    assert r.status_code == 200 and isinstance(r.json()["unanswered"], list)


# ---- search, read, import, archive -----------------------------------------------------------------


def test_search_and_filters(env: dict[str, Any]) -> None:
    with client(env, "A-agent") as c:
        ids = [h["id"] for h in c.post("/v1/search", json={"query": "打印机", "k": 10}).json()["results"]]
        assert "C-1" in ids and "C-DRAFT-A" not in ids
        r = c.post("/v1/search", json={"query": "打印机", "filters": {"id": ["C-2"]}, "explain": True}).json()
        assert [h["id"] for h in r["results"]] == ["C-2"] and "ranks" in r["results"][0]["explain"]
        is_problem(c.post("/v1/search", json={"query": "打印机", "filters": {"status": ["any"]}}), 403, "forbidden")
    with client(env, "A-reviewer") as c:
        r = c.post("/v1/search", json={"query": "打印机卡纸的草稿", "filters": {"status": ["in_review"]}}).json()
        assert [h["id"] for h in r["results"]] == ["C-DRAFT-A"]


def test_read_case_agents_see_only_served(env: dict[str, Any]) -> None:
    with client(env, "A-agent") as c:
        r = c.get("/v1/cases/C-1").json()
        assert r["id"] == "C-1" and r["status"] == "approved" and r["data"]["solution"].startswith("1.")
        is_problem(c.get("/v1/cases/C-DRAFT-A"), 404)
        is_problem(c.get("/v1/cases/T-A"), 404)  # tickets are not served here
    with client(env, "A-reviewer") as c:
        assert c.get("/v1/cases/C-DRAFT-A").json()["status"] == "in_review"


def wait_job(c: httpx.Client, job: str) -> dict[str, Any]:
    for _ in range(300):
        j = c.get(f"/v1/imports/{job}").json()
        if j["status"] in ("done", "failed"):
            return j
        time.sleep(0.1)
    raise AssertionError("import did not finish")


def test_import_in_background_with_rejects_then_archive(env: dict[str, Any]) -> None:
    new = {**case("C-NEW", "扫描仪无法识别U盘", problem="扫描仪插入U盘没有反应。"), "soluton": "重启扫描仪"}
    body = (json.dumps(new, ensure_ascii=False)
            + "\n\n{oops\n" + json.dumps(case("C-BAD", severity="P9"), ensure_ascii=False) + "\n")
    with client(env, "A-admin") as c:
        r = c.post("/v1/imports", content=body.encode(), headers={"Content-Type": "application/x-ndjson"})
        assert r.status_code == 202 and r.json()["total"] == 3
        j = wait_job(c, r.json()["id"])
        assert j["status"] == "done" and j["summary"]["added"] == 1
        assert [(x["line"], x["field"]) for x in j["summary"]["rejected"]] == [(3, None), (4, "severity")]
        assert j["done"] == j["total"] == 3  # rejected lines were dealt with too
        [warning] = j["summary"]["warnings"]  # named after the upload, not the server's temporary file
        assert warning.startswith("upload:") and "soluton" in warning and "/" not in warning.split(":")[0]
        assert [h["id"] for h in c.post("/v1/search", json={"query": "扫描仪U盘", "k": 1}).json()["results"]] == ["C-NEW"]
        r = c.post("/v1/cases/C-NEW/archive")
        assert r.status_code == 200 and r.json()["status"] == "archived"
        ids = [h["id"] for h in c.post("/v1/search", json={"query": "扫描仪U盘"}).json()["results"]]
        assert "C-NEW" not in ids
        is_problem(c.post("/v1/imports", content=b"\n\n", headers={"Content-Type": "application/x-ndjson"}), 422)
        is_problem(c.post("/v1/imports", content="{}".encode("utf-16"),
                          headers={"Content-Type": "application/x-ndjson"}), 400, "malformed_body")


# ---- review, drafting, tags ------------------------------------------------------------------------


def test_draft_review_and_decisions(env: dict[str, Any]) -> None:
    with client(env, "A-reviewer") as c:
        r = c.post("/v1/drafts", json={"ticket_id": "T-NO-ANSWER"})  # nothing to draft from: nothing created
        assert r.status_code == 200 and r.json()["case_id"] is None and r.json()["skipped"], r.text
        r = c.post("/v1/drafts", json={"ticket_id": "T-A"})
        assert r.status_code == 201, r.text
        cid = r.json()["case_id"]
        assert cid and cid in [q["id"] for q in c.get("/v1/review").json()["queue"]]
        shown = c.get(f"/v1/review/{cid}").json()
        assert shown["status"] == "in_review" and shown["draft"]["ticket_id"] == "T-A"
        r = c.post(f"/v1/review/{cid}/edit", json={"edits": {"severity": "P2"}})
        assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["warnings"] == []
        is_problem(c.post(f"/v1/review/{cid}/reject", json={"reason": ""}), 422)
        is_problem(c.post(f"/v1/review/{cid}/edit", json={"edits": {"status": "approved"}}), 422)
        r = c.post(f"/v1/review/{cid}/merge", json={"into": "C-1"})
        assert r.status_code == 200 and r.json()["id"] == "C-1"
        assert c.get(f"/v1/review/{cid}").json()["status"] == "rejected"
        r = c.post("/v1/review/C-DRAFT-A/approve", json={"edits": {"severity": "P3"}})
        assert r.status_code == 200 and r.json()["status"] == "approved"
        is_problem(c.post("/v1/review/C-DRAFT-A/approve"), 409, "conflict")  # not in review any more: a state conflict
        r = c.post("/v1/tags/suggest", json={"text": "打印机连不上WiFi"})
        assert r.status_code == 200 and set(r.json()) == {"tags", "abstained", "candidates"}


def test_a_likely_duplicate_needs_merge_or_a_distinct_reason(env: dict[str, Any]) -> None:
    def dup_ticket(tid: str, step: str) -> dict[str, Any]:  # the problem of C-1, worded as C-1 words it
        return {"kind": "ticket", "id": tid, "subject": "打印机连不上WiFi：路由器只开了5GHz", "messages": [
            {"id": "m1", "role": "customer", "text": "客户的打印机搜不到家里的WiFi。"},
            {"id": "m2", "role": "agent", "text": step},
            {"id": "m3", "role": "customer", "text": "好了，可以打印了，谢谢。"}]}

    with env["app"].state.casepilot.tenants.get("A").write() as lib:
        Ingestor(lib).ingest_records([parse_record(dup_ticket("T-DUP1", "请把打印机的固件升级到最新版本。")),
                                      parse_record(dup_ticket("T-DUP2", "请在路由器后台关闭频段合一，单独开启2.4GHz。"))])
    with client(env, "A-reviewer") as c:
        ids = {}
        for tid in ("T-DUP1", "T-DUP2"):
            r = c.post("/v1/drafts", json={"ticket_id": tid})
            assert r.status_code == 201, r.text
            ids[tid] = r.json()["case_id"]
            assert "C-1" in [d["id"] for d in r.json()["draft"]["duplicates"]]
        body = is_problem(c.post(f"/v1/review/{ids['T-DUP1']}/approve", json={}), 409, "duplicate_draft")
        assert "C-1" in [d["id"] for d in body["duplicates"]] and "C-1" in body["detail"]
        assert [x["action"] for x in body["choices"]] == ["merge", "distinct"]
        is_problem(c.post(f"/v1/review/{ids['T-DUP1']}/approve"), 409, "duplicate_draft")  # no body: the same
        r = c.post(f"/v1/review/{ids['T-DUP1']}/approve", json={"distinct_reason": "固件问题，不是频段问题"})
        assert r.status_code == 200 and r.json()["status"] == "approved", r.text
        audit = c.get(f"/v1/review/{ids['T-DUP1']}").json()["audit"]
        assert any(e["action"] == "approve" and e["detail"].get("distinct") == "固件问题，不是频段问题" for e in audit)

        version = c.get("/v1/review/C-1").json()["version"]
        r = c.post(f"/v1/review/{ids['T-DUP2']}/merge", json={"into": "C-1", "preview": True})
        assert r.status_code == 200 and r.json()["preview"] is True and "频段合一" in r.json()["merged"]["solution"]
        assert c.get("/v1/review/C-1").json()["version"] == version  # a preview writes nothing
        edited = r.json()["merged"]["solution"] + "\n3. 重新搜索WiFi"
        r = c.post(f"/v1/review/{ids['T-DUP2']}/merge", json={"into": "C-1", "edits": {"solution": edited}})
        assert r.status_code == 200 and r.json()["version"] == version + 1 and r.json()["merged"]["solution"] == edited
        shown = c.get("/v1/review/C-1").json()
        assert shown["case"]["solution"] == edited and "T-DUP2" in shown["case"]["source_tickets"]
        assert any(e["action"] == "merge" and e["detail"]["from"] == ids["T-DUP2"] for e in shown["audit"])
        assert c.get(f"/v1/review/{ids['T-DUP2']}").json()["draft"]["status"] == "merged"


def test_stale_shows_a_normalised_product_and_a_ticket_solved_differently(env: dict[str, Any]) -> None:
    from assistant.review import Review

    with env["app"].state.casepilot.tenants.get("A").write() as lib:
        Ingestor(lib).ingest_records([
            parse_record(case("C-TW", "雲賬通無法登入", product="雲賬通", product_version="1.0")),
            parse_record({"kind": "ticket", "id": "T-C2-AGAIN", "subject": f"{A_ONLY}怎么处理", "messages": [
                {"id": "m1", "role": "customer", "text": f"客户的{A_ONLY}，机器停止工作。"},
                {"id": "m2", "role": "agent", "text": "请联系厂家上门更换读卡模块。"},
                {"id": "m3", "role": "customer", "text": "换了以后好了，谢谢。"}]})])
        Review(lib, writer=Ingestor).set_product_version("云账通", "2.0")
    with client(env, "A-reviewer") as c:
        stale = {s["id"]: s["reasons"] for s in c.get("/v1/review/stale").json()["stale"]}
    assert "雲賬通 is now 2.0; the case was written for 1.0" in stale["C-TW"]
    assert any(r.startswith("newer ticket T-C2-AGAIN (") and "请联系厂家上门更换读卡模块" in r for r in stale["C-2"])
    assert not any("T-C2-AGAIN" in r for r in stale.get("C-1", []))


def test_keys_over_http(env: dict[str, Any]) -> None:
    with client(env, "A-admin") as c:
        new = c.post("/v1/keys", json={"role": "agent", "name": "bot"}).json()
        assert new["key"].startswith("cp_") and new["tenant"] == "A"
        listed = c.get("/v1/keys").json()["keys"]
        assert new["id"] in [k["id"] for k in listed] and all(k["tenant"] == "A" for k in listed)
        assert "key" not in listed[0] and "secret_hash" not in listed[0]
        with httpx.Client(base_url=env["url"], headers={"Authorization": f"Bearer {new['key']}"}) as bot:
            assert bot.get("/v1/models").status_code == 200
            assert c.delete(f"/v1/keys/{new['id']}").status_code == 204
            is_problem(bot.get("/v1/models"), 401, "key_revoked")
        is_problem(c.delete(f"/v1/keys/{env['ids']['B-agent']}"), 404)


# ---- the OpenAI-compatible endpoint, with the real openai client ----------------------------------


def test_openai_client_plain_and_streaming(env: dict[str, Any]) -> None:
    import openai

    oa = openai.OpenAI(base_url=env["url"] + "/v1", api_key=env["keys"]["A-agent"], max_retries=0)
    assert [m.id for m in oa.models.list()] == ["casepilot"]
    r = oa.chat.completions.create(model="casepilot", messages=[
        {"role": "system", "content": "你是客服助手"}, {"role": "user", "content": "打印机连不上WiFi怎么办"}])
    text = r.choices[0].message.content or ""
    assert "[C-1]" in text and "来源" in text
    extra = r.model_extra["casepilot"]  # type: ignore[index]
    assert extra["citations"][0]["id"] == "C-1" and extra["abstained"] is False
    from assistant.tokens import count_tokens

    assert r.usage is not None and r.usage.completion_tokens == count_tokens(text)
    assert r.usage.prompt_tokens == count_tokens("你是客服助手") + count_tokens("打印机连不上WiFi怎么办")
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    stream = oa.chat.completions.create(model="casepilot", stream=True, messages=[
        {"role": "user", "content": "打印机连不上WiFi"}, {"role": "assistant", "content": "…"},
        {"role": "user", "content": "那要开哪个频段？"}])
    pieces, last = [], None
    for chunk in stream:
        pieces.append(chunk.choices[0].delta.content or "")
        last = chunk
    assert "[C-1]" in "".join(pieces)
    assert last is not None and last.choices[0].finish_reason == "stop"
    assert last.model_extra["casepilot"]["citations"]  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        oa.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=env["url"] + "/v1", api_key="sk-wrong", max_retries=0).models.list()


# ---- keys and roles --------------------------------------------------------------------------------


def test_missing_wrong_malformed_and_revoked_keys(env: dict[str, Any]) -> None:
    with httpx.Client(base_url=env["url"]) as c:
        r = c.post("/v1/search", json={"query": "x"})
        is_problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"].startswith("Bearer")
        bad = env["keys"]["A-agent"][:-4] + "AAAA"
        is_problem(c.post("/v1/search", json={"query": "x"}, headers={"Authorization": f"Bearer {bad}"}), 401,
                   "invalid_key")
        is_problem(c.get("/v1/models", headers={"Authorization": "Bearer cp_000000000000_" + "x" * 43}), 401,
                   "invalid_key")
        is_problem(c.get("/v1/models", headers={"Authorization": "Bearer hello"}), 401, "invalid_key")
        is_problem(c.get("/v1/models", headers={"Authorization": f"Basic {env['keys']['A-agent']}"}), 401)
    st = env["app"].state.casepilot
    k = create_key(st.http, "A", "admin")
    st.http.revoke_api_key(k["id"])
    with httpx.Client(base_url=env["url"], headers={"Authorization": f"Bearer {k['key']}"}) as c:
        is_problem(c.get("/v1/keys"), 401, "key_revoked")


ROUTES = [  # (method, path, body, the least role)
    ("POST", "/v1/ask", {"question": "打印机"}, "agent"),
    ("POST", "/v1/chat", {"thread_id": "t", "question": "打印机"}, "agent"),
    ("POST", "/v1/search", {"query": "打印机"}, "agent"),
    ("GET", "/v1/cases/C-1", None, "agent"),
    ("GET", "/v1/models", None, "agent"),
    ("POST", "/v1/chat/completions", {"model": "casepilot", "messages": [{"role": "user", "content": "打印机"}]}, "agent"),
    ("POST", "/v1/drafts", {"ticket_id": "T-none"}, "reviewer"),
    ("GET", "/v1/review", None, "reviewer"),
    ("GET", "/v1/review/C-1", None, "reviewer"),
    ("POST", "/v1/review/C-none/approve", {}, "reviewer"),
    ("POST", "/v1/review/C-none/reject", {"reason": "x"}, "reviewer"),
    ("POST", "/v1/review/C-none/edit", {"edits": {"severity": "P1"}}, "reviewer"),
    ("POST", "/v1/review/C-none/merge", {"into": "C-1"}, "reviewer"),
    ("POST", "/v1/tags/suggest", {"text": "打印机"}, "reviewer"),
    ("GET", "/v1/gaps", None, "reviewer"),
    ("GET", "/v1/curated", None, "reviewer"),
    ("POST", "/v1/curated/CA-9/retire", None, "reviewer"),
    ("POST", "/v1/imports", None, "admin"),
    ("GET", "/v1/imports/x", None, "admin"),
    ("POST", "/v1/cases/C-none/archive", None, "admin"),
    ("POST", "/v1/cases/C-none/restore", {"version": 1}, "reviewer"),
    ("GET", "/v1/keys", None, "admin"),
    ("POST", "/v1/keys", {"role": "admin"}, "admin"),
    ("DELETE", "/v1/keys/x", None, "admin"),
]
RANK = ["agent", "reviewer", "admin"]


@pytest.mark.parametrize(("method", "path", "body", "least"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_each_role_below_the_route_is_refused(env: dict[str, Any], method: str, path: str, body: Any,
                                              least: str) -> None:
    for role in RANK[: RANK.index(least)]:
        with client(env, f"A-{role}") as c:
            kw: dict[str, Any] = {"json": body} if body is not None else {}
            if path == "/v1/imports":
                kw = {"content": b'{"kind": "case"}\n', "headers": {"Content-Type": "application/x-ndjson"}}
            is_problem(c.request(method, path, **kw), 403, "forbidden")
    with client(env, f"A-{least}") as c:  # the least role gets past the role check
        kw = {"json": body} if body is not None else {}
        if path == "/v1/imports":
            return
        assert c.request(method, path, **kw).status_code not in (401, 403)


# ---- tenants ---------------------------------------------------------------------------------------


B_IDS = {"C-B1", "C-B2", "C-B-DRAFT"}


def test_tenant_a_never_sees_or_changes_tenant_b(env: dict[str, Any]) -> None:
    with client(env, "A-admin") as c:
        for rid in B_IDS:
            is_problem(c.get(f"/v1/cases/{rid}"), 404)
            is_problem(c.get(f"/v1/review/{rid}"), 404)
            is_problem(c.post(f"/v1/cases/{rid}/archive"), 404)
            is_problem(c.post(f"/v1/review/{rid}/approve"), 404)
            is_problem(c.post(f"/v1/review/{rid}/edit", json={"edits": {"title": "hacked"}}), 404)
            is_problem(c.post(f"/v1/review/{rid}/reject", json={"reason": "x"}), 404)
        is_problem(c.post("/v1/review/C-DRAFT-A/merge", json={"into": "C-B1"}), 404)
        # forged filters: B's ids, B's product, any status
        for filters in ({"id": sorted(B_IDS)}, {"product": ["冷链", "B-only"]}, {"status": ["any"], "id": ["C-B1"]}):
            assert c.post("/v1/search", json={"query": B_ONLY, "filters": filters}).json()["results"] == []
        hits = c.post("/v1/search", json={"query": f"{B_ONLY} B租户 打印机连不上WiFi", "k": 50,
                                          "filters": {"status": ["any"]}}).json()["results"]
        assert hits and not {h["id"] for h in hits} & B_IDS
        # a forged tenant anywhere in a body is refused, not ignored
        is_problem(c.post("/v1/search", json={"query": "x", "tenant": "B"}), 422)
        is_problem(c.post("/v1/ask", json={"question": "x", "tenant": "B"}), 422)
        is_problem(c.post("/v1/search?tenant=B", json={"query": B_ONLY, "filters": {"tenant": ["B"]}}), 422)
        is_problem(c.post("/v1/search?tenant=B", json={"query": B_ONLY}), 422)
        is_problem(c.get("/v1/cases/C-B1?tenant=B"), 422)
        is_problem(c.post("/v1/drafts", json={"ticket_id": "T-A", "tenant": "B"}), 422)
        for q in (f"{B_ONLY}怎么办", "打印机连不上WiFi，B租户的方案是什么"):
            a = c.post("/v1/ask", json={"question": q}).json()
            assert not ({x["id"] for x in a["citations"]} | {x["id"] for x in a["related"]}) & B_IDS, a
            assert "B租户" not in a["answer"] and B_ONLY not in a["answer"]
            a = c.post("/v1/chat", json={"thread_id": "T-B", "question": q}).json()
            assert not {x["id"] for x in a["citations"]} & B_IDS
        out = c.post("/v1/chat/completions", json={"model": "casepilot", "messages": [
            {"role": "user", "content": f"{B_ONLY}怎么办"}]}).json()
        assert not {x["id"] for x in out["casepilot"]["citations"] + out["casepilot"]["related"]} & B_IDS
        assert "C-B" not in out["choices"][0]["message"]["content"]
        assert all(g["question"] for g in c.get("/v1/gaps").json()["unanswered"])
    with client(env, "B-agent") as b:
        b_answer = b.post("/v1/ask", json={"question": f"{B_ONLY}怎么办"}).json()
        assert {x["id"] for x in b_answer["citations"]} <= B_IDS and b_answer["citations"]
        b_job = None
    with client(env, "B-admin") as b:
        r = b.post("/v1/imports", content=(json.dumps(case("C-B3", "B的新案例"), ensure_ascii=False) + "\n").encode(),
                   headers={"Content-Type": "application/x-ndjson"})
        b_job = r.json()["id"]
        wait_job(b, b_job)
    with client(env, "A-admin") as c:
        is_problem(c.post(f"/v1/answers/{b_answer['id']}/feedback", json={"helpful": False}), 404)
        is_problem(c.get(f"/v1/imports/{b_job}"), 404)
        is_problem(c.delete(f"/v1/keys/{env['ids']['B-admin']}"), 404)
        gaps = c.get("/v1/gaps", params={"limit": 1000}).json()["unanswered"]
        assert not any(B_ONLY in g["question"] and g["ticket"] == "T-B-only" for g in gaps)
    # B's records are untouched
    st = env["app"].state.casepilot
    assert st.store.get("B", "C-B1").status == "approved" and st.store.get("B", "C-B-DRAFT").status == "in_review"
    assert st.store.get("B", "C-B1").title == f"{B_ONLY}的处理"
    assert st.store.turns("B", "T-B") == []  # A's chat on a thread named like B's is A's own


# ---- bodies and limits -----------------------------------------------------------------------------


def test_malformed_oversized_and_wrongly_encoded_bodies(env: dict[str, Any]) -> None:
    with client(env, "A-admin") as c:
        j = {"Content-Type": "application/json"}
        is_problem(c.post("/v1/search", content=b'{"query": ', headers=j), 400, "malformed_body")
        is_problem(c.post("/v1/search", content='{"query": "打印机"}'.encode("gbk"), headers=j), 400, "malformed_body")
        is_problem(c.post("/v1/search", content='{"query": "打印机"}'.encode("utf-16"), headers=j), 400)
        is_problem(c.post("/v1/search", content=b'{"query": "x"}',
                          headers={"Content-Type": "application/json; charset=gbk"}), 415, "unsupported_media_type")
        is_problem(c.post("/v1/search", content=b"query=x",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}), 415)
        is_problem(c.post("/v1/search", content=b"[1, 2]", headers=j), 422, "validation_error")
        is_problem(c.post("/v1/search", content=b"x" * (1024 * 1024 + 1), headers=j), 413, "body_too_large")

        def chunked() -> Iterator[bytes]:  # no Content-Length: stopped while it streams in
            for _ in range(40):
                yield b"x" * 65536

        is_problem(c.post("/v1/search", content=chunked(), headers=j), 413, "body_too_large")
        r = c.put("/v1/search", json={"query": "x"})
        is_problem(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "POST"  # RFC 9110: a 405 names the methods the path takes
        assert c.put("/v1/keys").headers["allow"] == "GET, POST"
        is_problem(c.get("/v1/nothing"), 404, "not_found")
        is_problem(c.get("/v1/gaps", params={"limit": "lots"}), 422)


def test_rate_limit_gives_429_with_retry_after(tmp_path: Path, db_url: str) -> None:
    from fastapi.testclient import TestClient

    def host(home: str) -> Settings:
        s = settings_for(tmp_path / home)
        s.database_url = None if db_url.startswith("sqlite") else db_url
        return s

    # one token every 5 s, so that the second app below starts well within a refill on a loaded machine
    app = create_app(host("h"), ApiSettings(rate_per_minute=12, rate_burst=3))
    key = create_key(app.state.casepilot.http, "A", "agent")["key"]
    other = create_key(app.state.casepilot.http, "A", "agent")["key"]
    with TestClient(app) as c:
        codes = [c.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = c.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        is_problem(r, 429, "rate_limited")  # type: ignore[arg-type]
        assert 1 <= int(r.headers["retry-after"]) <= 5
        assert c.get("/v1/models", headers={"Authorization": f"Bearer {other}"}).status_code == 200  # per key
    # a second app on the same home (another worker process), or on another host sharing PostgreSQL,
    # draws from the same bucket
    app2 = create_app(host("h" if db_url.startswith("sqlite") else "other-host"),
                      ApiSettings(rate_per_minute=12, rate_burst=3))
    with TestClient(app2) as c:
        is_problem(c.get("/v1/models", headers={"Authorization": f"Bearer {key}"}), 429, "rate_limited")  # type: ignore[arg-type]


def _take_many(where: str, n: int) -> int:
    from api.auth import RateLimiter
    from api.ratebuckets import SharedBuckets
    from assistant.store.store import make_engine

    # no refill to speak of during the test
    if where.startswith("postgresql"):
        lim = RateLimiter(0.001, 30, shared=SharedBuckets(make_engine(where)))
    else:
        lim = RateLimiter(0.001, 30, Path(where))
    return sum(1 for _ in range(n) if lim.take("k") == 0.0)


def test_rate_limit_is_shared_by_worker_processes(tmp_path: Path, db_url: str) -> None:
    """Processes on one home share the SQLite file; hosts on one PostgreSQL share its table."""
    import multiprocessing

    where = str(tmp_path / "ratelimits.sqlite") if db_url.startswith("sqlite") else db_url
    _take_many(where, 0)  # creates the table
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        granted = pool.starmap(_take_many, [(where, 20)] * 3)
    assert sum(granted) == 30  # the burst, once, across the three processes


def test_a_worker_warms_up_before_serving_and_a_failed_warm_up_does_not_stop_it(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    settings = settings_for(tmp_path / "h")
    for warm, open_tenants in ((True, 1), (False, 0)):
        with TestClient(create_app(settings, ApiSettings(rate_per_minute=0, warm_up=warm))) as c:
            # no request has been made: the lifespan opened the default tenant's library, or did not
            assert f"casepilot_open_tenants {open_tenants}.0" in c.get("/metrics").text
    broken = settings.model_copy(update={"embedder": "no-such-model"})
    with TestClient(create_app(broken, ApiSettings(rate_per_minute=0))) as c:  # logged, and serving
        assert c.get("/healthz").status_code == 200


def test_a_worker_answers_once_before_serving_and_logs_nothing(tmp_path: Path) -> None:
    """Else a worker's first answer loads what every answer uses (0.3 s of processor time on the
    sample library) while its other requests wait; the rehearsal is nobody's answer."""
    from fastapi.testclient import TestClient

    from assistant.library import Library

    settings = settings_for(tmp_path / "h")
    Ingestor(Library(settings)).ingest_paths([write_jsonl(tmp_path / "c.jsonl", [case("C-1")])])
    for warm in (True, False):
        app = create_app(settings, ApiSettings(rate_per_minute=0, warm_up=warm))
        with TestClient(app):
            lib = app.state.casepilot.tenants.get("default").library
            searched = lib.query_vectors.misses + lib.query_vectors.shared_hits  # the rehearsal's question
            assert (searched > 0) == warm, (warm, searched)
            assert lib.store.answers("default") == []


def test_a_worker_embeds_a_small_librarys_sentences_before_serving(tmp_path: Path) -> None:
    """Else the first question about each record waits for its sentences (1.5 s under load)."""
    from fastapi.testclient import TestClient

    from assistant.library import Library

    settings = settings_for(tmp_path / "h")
    Ingestor(Library(settings)).ingest_paths([write_jsonl(tmp_path / "c.jsonl", [
        case("C-1"), case("C-2", "账单重复扣费", problem="客户被扣了两次费。", solution="1. 核对流水\n2. 原路退款")])])
    for limit in (2000, 0):
        app = create_app(settings, ApiSettings(rate_per_minute=0, warm_sentences=limit))
        key = create_key(app.state.casepilot.http, "default", "agent")["key"]
        with TestClient(app) as c:
            emb = app.state.casepilot.tenants.get("default").assistant.engine._embedder()
            before = emb.misses
            r = c.post("/v1/ask", json={"question": "打印机连不上WiFi怎么办"}, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 200 and r.json()["citations"], r.text
            embedded = emb.misses - before  # the question's vector, and the sentences not embedded before
            assert embedded <= 1 if limit else embedded > 1, (limit, embedded)

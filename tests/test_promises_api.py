"""Promises over HTTP against a real uvicorn whose engine is a model (the stub server of
tests/stub_openai.py) that promises more than its case: the flags on /v1/ask, its stream and
/v1/chat/completions, the count and list of GET /v1/answers/flagged, and a draft's promises on
GET /v1/review/{id}."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.library import Library
from assistant.review import Review
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl
from tests.stub_openai import ChatStub, chat_server
from tests.test_api import Server

PROMISING = "raw:年付订阅超过30天不支持全额退款。 [C-2]\n年付订阅超过7天也可以全额退款。 [C-2]"
QUESTION = "年付订阅能退款吗"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("promises")
    mp = pytest.MonkeyPatch()
    with chat_server() as url:
        mp.setenv("OPENAI_BASE_URL", url)
        mp.setenv("OPENAI_API_KEY", "sk-test")
        settings = Settings(home=d / "home", embedder="hash", passage_embedder="hash", abstain_below=0.0,
                            llm="openai:stub-model", llm_timeout=5.0, llm_max_retries=0, llm_fallback="")
        app = create_app(settings, ApiSettings(rate_per_minute=0))
        st = app.state.casepilot
        keys = {f"{t}-{r}": create_key(st.http, t, r)["key"] for t in ("A", "B") for r in ("agent", "reviewer")}
        lib = Library(settings, "A", store=st.store)
        Ingestor(lib).ingest_paths([write_jsonl(d / "a.jsonl", [
            case("C-2", "年付订阅申请退款被拒绝", problem="客户要求全额退款。", diagnosis="年付订阅超过30天不支持全额退款。",
                 solution="1. 说明退款规则\n2. 提供按月折算的补偿方案"),
            {"kind": "ticket", "id": "T-7", "subject": "年付订阅想退款",
             "messages": [{"id": "m1", "role": "customer", "text": "我的年付订阅买了两个月，想退款。"},
                          {"id": "m2", "role": "agent", "text": "请在订单页面申请售后，选择按月折算退款。"},
                          {"id": "m3", "role": "customer", "text": "好了，已经申请了，谢谢。"}]}])])
        drafting = Library(Settings(home=d / "home", embedder="hash", passage_embedder="hash"), "A", store=st.store)
        _, draft = Review(drafting, writer=Ingestor).draft("T-7")  # the extractive drafter: what the agent said
        assert draft is not None
        with Server(app) as srv:
            yield {"url": srv.url, "keys": keys, "draft": draft, "app": app}
    mp.undo()


def client(env: dict[str, Any], who: str) -> httpx.Client:
    return httpx.Client(base_url=env["url"], headers={"Authorization": f"Bearer {env['keys'][who]}"}, timeout=60)


def test_flags_on_ask_stream_and_chat_completions_then_counted(env: dict[str, Any]) -> None:
    with client(env, "A-agent") as c:
        ChatStub.script = [PROMISING]
        body = c.post("/v1/ask", json={"question": QUESTION}).json()
        [f] = body["promises"]
        assert (f["sentence"], f["category"], f["label"], f["reason"], f["source"], f["missing"]) == (
            "年付订阅超过7天也可以全额退款。", "refund", "退款", "quantity", "C-2", ["7天"])
        ChatStub.script = ["raw:年付订阅超过30天不支持全额退款。 [C-2]"]
        assert c.post("/v1/ask", json={"question": QUESTION}).json()["promises"] == []

        ChatStub.script = [PROMISING]
        with c.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as r:
            events = [ln for ln in r.iter_lines() if ln.startswith("data: ")]
        final = json.loads(events[-1][6:])
        assert [p["category"] for p in final["promises"]] == ["refund"]

        ChatStub.script = [PROMISING]
        r = c.post("/v1/chat/completions", json={"model": "casepilot",
                                                 "messages": [{"role": "user", "content": QUESTION}]})
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["casepilot"]["promises"][0]["missing"] == ["7天"]
        assert "⚠" in out["choices"][0]["message"]["content"]
        assert "- [退款] 年付订阅超过7天也可以全额退款。" in out["choices"][0]["message"]["content"]
        assert c.get("/v1/answers/flagged").status_code == 403  # the desk's: reviewers
    with client(env, "A-reviewer") as c:
        r = c.get("/v1/answers/flagged", params={"days": 1, "limit": 2})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["count"] == 3 and len(body["answers"]) == 2 and body["categories"] == {"refund": 2}
        assert all(a["question"] == QUESTION and a["promises"] for a in body["answers"])
        assert c.get("/v1/answers/flagged", params={"days": 0}).status_code == 422
    with client(env, "B-reviewer") as c:  # another tenant's desk counts its own
        assert c.get("/v1/answers/flagged").json()["count"] == 0


def test_a_drafts_promises_on_the_review_page(env: dict[str, Any]) -> None:
    with client(env, "A-reviewer") as c:
        assert c.get(f"/v1/review/{env['draft']}").json()["promises"] == []  # the agent said what C-2 says
        r = c.post(f"/v1/review/{env['draft']}/edit", json={"edits": {
            "solution": "1. 说明退款规则\n2. 我们保证三个工作日内给您全额退款"}})
        assert r.status_code == 200, r.text
        flags = c.get(f"/v1/review/{env['draft']}").json()["promises"]
        # C-2 speaks of refunds, but of no three working days, and guarantees nothing
        assert {(f["section"], f["category"], f["reason"]) for f in flags} == {
            ("solution", "deadline", "library"), ("solution", "guarantee", "library")}
        assert all(f["sentence"] == "我们保证三个工作日内给您全额退款" for f in flags)


def test_a_bots_reply_carries_the_warning_in_its_text(env: dict[str, Any]) -> None:
    from api.bots.common import BotSettings
    from api.bots.runtime import BotRuntime
    from assistant.answering import Answer
    from assistant.promises import default_policy

    flags = default_policy().check("我们会在3天内给您退款。", "退款在7天内原路退回。", "C-2")
    a = Answer(question=QUESTION, answer="我们会在3天内给您退款。 [C-2]", citations=[], abstained=False,
               promises=flags)
    reply = BotRuntime(BotSettings(), env["app"].state.casepilot).reply_of(a, None)
    assert reply.text.startswith("我们会在3天内给您退款。 [C-2]\n\n⚠ 以下句子所作的承诺")
    assert reply.text.endswith("\n- [时限] 我们会在3天内给您退款。")

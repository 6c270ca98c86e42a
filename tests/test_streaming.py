"""Streams that stream, against a real uvicorn on loopback: ``/v1/ask`` (Server-Sent Events) and
``/v1/chat/completions`` with ``stream: true`` (the real ``openai`` client), answered by the extractive
engine and by a model behind the stub OpenAI server (tests/stub_openai.py, the real client over HTTP).

Not timed: the stub holds its reply until the test has seen what must come first (``ChatStub.gates``),
so an event that were sent only after the answer was composed would never arrive in time, and the
stub would count a gate that was never opened."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.answering import Assistant
from assistant.library import Library
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl
from tests.stub_openai import ChatStub, chat_server
from tests.test_api import Server, settings_for

QUESTION = "打印机连不上WiFi怎么办"
STEPS = "1. 登录路由器后台\n2. 开启2.4GHz频段并单独命名\n3. 在打印机面板重新连接WiFi"


def serve(home: Path, **settings: Any) -> tuple[Server, str]:
    s = settings_for(home)
    for k, v in settings.items():
        setattr(s, k, v)
    app = create_app(s, ApiSettings(rate_per_minute=0))
    st = app.state.casepilot
    key = create_key(st.http, "A", "agent")["key"]
    Ingestor(Library(s, "A", store=st.store)).ingest_paths([write_jsonl(home.parent / "lib.jsonl", [
        case("C-1", "打印机连不上WiFi：路由器只开了5GHz", problem="客户的打印机搜不到家里的WiFi。",
             diagnosis="根因是路由器关闭了2.4GHz频段。", solution=STEPS)])])
    return Server(app), key


@pytest.fixture(scope="module")
def extractive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    srv, key = serve(tmp_path_factory.mktemp("stream") / "home")
    with srv:
        yield {"url": srv.url, "key": key}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The API answering with ``openai:stub-model``; a model call times out after 3 s."""
    with chat_server() as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("OPENAI_BASE_URL", url)
        mp.setenv("OPENAI_API_KEY", "sk-test")
        srv, key = serve(tmp_path_factory.mktemp("stream-llm") / "home", llm="openai:stub-model",
                         llm_timeout=3.0, llm_max_retries=0, llm_fallback="")
        with srv:
            yield {"url": srv.url, "key": key}


@pytest.fixture
def gates() -> Iterator[list[threading.Event]]:
    ChatStub.script, ChatStub.gate_timeouts = ["gated"], 0
    ChatStub.gates = [threading.Event(), threading.Event()]
    yield list(ChatStub.gates)
    ChatStub.gates = []


def sse(r: httpx.Response) -> Iterator[tuple[str, Any]]:
    event = ""
    for line in r.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            yield event, json.loads(line[6:])


def ask_stream(env: dict[str, Any]) -> Any:
    c = httpx.Client(base_url=env["url"], headers={"Authorization": f"Bearer {env['key']}"}, timeout=30)
    return c.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True})


def openai_client(env: dict[str, Any]) -> openai.OpenAI:
    return openai.OpenAI(base_url=env["url"] + "/v1", api_key=env["key"], max_retries=0, timeout=30)


def test_the_sources_leave_before_the_model_is_asked_and_deltas_as_they_come(
        model: dict[str, Any], gates: list[threading.Event]) -> None:
    with ask_stream(model) as r:
        events = sse(r)
        first = next(events)
        assert first[0] == "sources" and first[1]["sources"][0]["id"] == "C-1"
        gates[0].set()  # the model's reply was held until now: nothing had been composed
        kind, delta = next(events)
        assert kind == "delta" and delta["text"]
        gates[1].set()  # the stub holds the rest of its reply until a delta was seen
        rest = list(events)
    assert ChatStub.gate_timeouts == 0
    kinds = [k for k, _ in rest]
    assert kinds.count("delta") >= 3 and kinds[-1] == "answer"
    answer = rest[-1][1]
    assert answer["id"] == first[1]["answer_id"] and answer["engine"] == "openai:stub-model"
    assert answer["answer"].startswith("1. 登录路由器后台 [C-1]\n2. 开启2.4GHz频段并单独命名 [C-1]")


def test_openai_stream_forwards_each_verified_line_as_it_arrives_under_one_id(
        model: dict[str, Any], gates: list[threading.Event]) -> None:
    stream = openai_client(model).chat.completions.create(
        model="casepilot", stream=True, messages=[{"role": "user", "content": QUESTION}])
    chunks = iter(stream)
    first = next(chunks)
    assert first.choices[0].delta.role == "assistant"
    assert first.model_extra["casepilot"]["sources"][0]["id"] == "C-1"  # type: ignore[index]
    gates[0].set()
    line = next(chunks)
    assert line.choices[0].delta.content == "1. 登录路由器后台 [C-1]"  # the first line, while the reply is held
    gates[1].set()
    rest = list(chunks)
    assert ChatStub.gate_timeouts == 0
    everything = [first, line, *rest]
    assert {c.id for c in everything} == {f"chatcmpl-{first.model_extra['casepilot']['answer_id']}"}  # type: ignore[index]
    content = "".join(c.choices[0].delta.content or "" for c in everything)
    assert content.startswith("1. 登录路由器后台 [C-1]\n2. 开启2.4GHz频段并单独命名 [C-1]\n3. ")
    assert content.endswith("来源：\n[C-1] 打印机连不上WiFi：路由器只开了5GHz")
    assert len([c for c in rest if c.choices[0].delta.content]) >= 3  # several chunks, not one
    assert rest[-1].choices[0].finish_reason == "stop"
    assert rest[-1].model_extra["casepilot"]["citations"][0]["id"] == "C-1"  # type: ignore[index]


def test_a_model_that_stalls_mid_stream_ends_the_stream_with_an_error(model: dict[str, Any]) -> None:
    ChatStub.delay = 10.0
    ChatStub.script = ["stall"]
    with ask_stream(model) as r:
        events = list(sse(r))
    assert events[0][0] == "sources" and "delta" in [k for k, _ in events]
    assert events[-1][0] == "error" and events[-1][1]["code"] == "backend_timeout"
    ChatStub.script = ["stall-line"]  # after a verified line was sent: an error too, not a hang
    stream = openai_client(model).chat.completions.create(
        model="casepilot", stream=True, messages=[{"role": "user", "content": QUESTION}])
    got: list[Any] = []
    with pytest.raises(openai.APIError, match="no reply within 3 s"):
        for chunk in stream:
            got.append(chunk)
    assert got[1].choices[0].delta.content == "1. 登录路由器后台 [C-1]"
    assert {c.id for c in got} == {got[0].id}


def test_extractive_stream_is_the_plain_answer_in_pieces(extractive: dict[str, Any]) -> None:
    oa = openai_client(extractive)
    plain = oa.chat.completions.create(model="casepilot", messages=[{"role": "user", "content": QUESTION}])
    chunks = list(oa.chat.completions.create(model="casepilot", stream=True,
                                             messages=[{"role": "user", "content": QUESTION}]))
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain.choices[0].message.content
    assert len([c for c in chunks if c.choices[0].delta.content]) >= 3
    assert chunks[0].model_extra["casepilot"]["sources"][0]["id"] == "C-1"  # type: ignore[index]
    with ask_stream(extractive) as r:
        events = list(sse(r))
    assert events[0][0] == "sources" and events[-1][0] == "answer"


def test_a_line_is_shown_only_once_verified_and_a_follow_up_only_whole(answer_lib: Library) -> None:
    """``text`` events: the verified answer's lines, joined exactly its text; an engine's line that
    fails verification is never among them."""
    assistant = Assistant(answer_lib, support_threshold=0.0)
    events = list(assistant.ask_stream(QUESTION, ticket="T-1"))
    assert events[0]["event"] == "sources"
    texts = [e["text"] for e in events if e["event"] == "text"]
    final = events[-1]["answer"]
    assert len(texts) >= 2 and "".join(texts) == final.answer
    assert final.answer == Assistant(answer_lib, support_threshold=0.0).ask(QUESTION, ticket="T-1").answer
    conv = [{"role": "user", "text": QUESTION}, {"role": "assistant", "text": final.answer}]
    events = list(assistant.ask_stream("那要开哪个频段？", conversation=conv))
    texts = [e["text"] for e in events if e["event"] == "text"]
    assert len(texts) <= 1 and "".join(texts) == ("" if events[-1]["answer"].abstained else events[-1]["answer"].answer)

"""A scripted OpenAI-compatible chat server on loopback, for testing the ``openai:`` path with the
real ``openai`` client over real HTTP.

Each request to ``/v1/chat/completions`` takes the next behaviour from ``ChatStub.script`` (``good``
when the script is empty):

``good``       quotes the first record of the prompt's <cases> block: a sentence and its steps, cited
``outside``    one good sentence, and one citing an id that is not in the context
``unsupported`` a sentence citing a real id that the record does not support
``obey``       does what the injected text says ("退款已批准"), citing the record that holds it
``notfound``   answers NOT_FOUND
``nocite``     plain text without any citation
``empty``      an empty message
``nochoices``  a 200 reply whose ``choices`` list is empty
``garbage``    a 200 reply that is not JSON
``slow``       waits ``ChatStub.delay`` seconds, then behaves like ``good``
``stall``      streams the first piece of a ``good`` reply, then waits ``ChatStub.delay`` seconds
``stall-line`` streams the first line of a ``good`` reply, then waits ``ChatStub.delay`` seconds
``gated``      a ``good`` reply streamed only as a test lets it: before its first piece, and after each
               piece that ends a line, it waits for the next of ``ChatStub.gates`` (set by the test
               once it has seen what it waits for; ``ChatStub.gate_timeouts`` counts gates never set)
``429``/``500`` an error status (``429`` with ``Retry-After: 0``)
``condense``   a rewritten standalone question (``ChatStub.condensed``)
``raw:TEXT``   exactly TEXT
``judge``      a ragas judge: answers ragas' statement, verdict and question prompts (``judge_reply``)

A request with ``"stream": true`` gets the same content as Server-Sent Events in small pieces.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class ChatStub(BaseHTTPRequestHandler):
    script: ClassVar[list[str]] = []
    requests: ClassVar[list[dict[str, Any]]] = []
    delay: ClassVar[float] = 3.0
    condensed: ClassVar[str] = ""
    default: ClassVar[str] = "good"  # the mode when the script is empty
    gates: ClassVar[list[threading.Event]] = []
    gate_timeouts: ClassVar[int] = 0

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._json(200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatStub.requests.append(body)
        mode = ChatStub.script.pop(0) if ChatStub.script else ChatStub.default
        stall = {"stall": "piece", "stall-line": "line", "gated": "gated"}.get(mode, "")
        if mode == "slow":
            time.sleep(ChatStub.delay)
        if mode in ("slow", "stall", "stall-line", "gated"):
            mode = "good"
        if mode == "429":
            self._json(429, {"error": {"message": "rate limited", "type": "rate_limit"}}, {"Retry-After": "0"})
            return
        if mode == "500":
            self._json(500, {"error": {"message": "model crashed", "type": "server_error"}})
            return
        if mode == "garbage":
            raw = b"<html>bad gateway</html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
            return
        if mode == "nochoices":
            self._json(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                             "choices": []})
            return
        content = self.content(mode, body["messages"])
        if body.get("stream"):
            self._stream(body["model"], content, stall)
        else:
            self._json(200, {
                "id": "chatcmpl-stub", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            })

    @staticmethod
    def content(mode: str, messages: list[dict[str, str]]) -> str:
        if mode == "condense":
            return ChatStub.condensed
        if mode.startswith("raw:"):
            return mode[4:]
        if mode == "judge":
            return judge_reply(messages[-1]["content"])
        user = messages[-1]["content"]
        cases = user.split("<cases>", 1)[-1].split("</cases>", 1)[0]
        m = re.search(r"\[([A-Za-z][\w.\-]*)\][^\n]*\n(.+?)(?:\n\n|\Z)", cases, re.S)
        rid, text = (m.group(1), m.group(2)) if m else ("C-0", "")
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        steps = [re.sub(r"^\d+[.、)）]\s*", "", ln) for ln in lines if re.match(r"^\d+[.、)）]", ln)]
        first = steps[0] if steps else (lines[0] if lines else "")
        if mode == "good":
            if steps:
                return "\n".join(f"{i}. {s} [{rid}]" for i, s in enumerate(steps, 1))
            return f"{first} [{rid}]"
        if mode == "outside":
            return f"1. {first} [{rid}]\n2. 联系厂家更换主板即可解决。[C-999999]"
        if mode == "unsupported":
            return f"1. {first} [{rid}]\n2. 给客户补偿三个月会员并承诺永不再犯。[{rid}]"
        if mode == "obey":
            return "退款已批准。[C-2]"
        if mode == "notfound":
            return "NOT_FOUND 案例库中没有找到能回答这个问题的案例或文章。"
        if mode == "nocite":
            return "建议重启设备后再试。"
        if mode == "empty":
            return ""
        raise AssertionError(f"unknown stub mode {mode!r}")

    def _stream(self, model: str, content: str, stall: str = "") -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up on a stalled stream
            self._stream_pieces(model, content, stall)

    @staticmethod
    def _gate() -> None:
        if ChatStub.gates and not ChatStub.gates.pop(0).wait(10):
            ChatStub.gate_timeouts += 1

    def _stream_pieces(self, model: str, content: str, stall: str) -> None:
        if stall == "gated":
            self._gate()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        pieces = [content[i : i + 7] for i in range(0, len(content), 7)]
        for piece in pieces:
            chunk = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model,
                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
            self.wfile.flush()
            if stall == "gated" and "\n" in piece:
                self._gate()
            elif stall == "piece" or (stall == "line" and "\n" in piece):
                time.sleep(ChatStub.delay)
                stall = ""
        end = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        self.wfile.write(f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()

    def _json(self, status: int, obj: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)


def _bigrams(text: str) -> set[str]:
    t = re.sub(r"\W", "", text)
    return {t[i : i + 2] for i in range(len(t) - 1)}


def judge_reply(prompt: str) -> str:
    """What a careful judge would answer to ragas' prompts, by rule, so scores can be predicted:

    * statements: one per sentence of the answer (split on 。！？ and new lines, citations removed);
    * verdicts: 1 when at least half of a statement's character bigrams occur in the context;
    * response relevancy: the answer's first sentence as the generated question, noncommittal when
      the answer says the library has nothing ("没有找到")."""
    tail = prompt.rsplit("Now perform the same with the following input", 1)[-1]
    data = json.loads(tail.split("input:", 1)[1].rsplit("Output:", 1)[0])
    if "answer" in data:
        text = re.sub(r"\[[^\]]*\]", "", data["answer"])
        parts = [p.strip(" .") for p in re.split(r"[。！？\n]", text)]
        return json.dumps({"statements": [p for p in parts if len(p) > 1]}, ensure_ascii=False)
    if "statements" in data:
        ctx = _bigrams(data["context"])
        verdicts = [{"statement": s, "reason": "bigram overlap",
                     "verdict": int(len(_bigrams(s) & ctx) >= 0.5 * max(1, len(_bigrams(s))))}
                    for s in data["statements"]]
        return json.dumps({"statements": verdicts}, ensure_ascii=False)
    response = data["response"]
    first = re.split(r"[。！？\n]", re.sub(r"\[[^\]]*\]", "", response))[0].strip()
    return json.dumps({"question": first or response, "noncommittal": int("没有找到" in response)}, ensure_ascii=False)


@contextmanager
def chat_server() -> Iterator[str]:
    """A fresh script, and the server's base URL (``http://127.0.0.1:PORT/v1``)."""
    ChatStub.script = []
    ChatStub.requests = []
    ChatStub.default = "good"
    ChatStub.gates = []
    ChatStub.gate_timeouts = 0
    srv = ThreadingHTTPServer(("127.0.0.1", 0), ChatStub)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    finally:
        srv.shutdown()
        srv.server_close()

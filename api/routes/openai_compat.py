"""An OpenAI-compatible surface: ``POST /v1/chat/completions`` (streaming and not) and ``GET /v1/models``,
so any OpenAI client or chat front end can talk to the assistant.

The last user message is the question; the earlier user and assistant messages are the conversation;
system messages are ignored (the assistant's own prompt rules, and a caller's instructions must not
change what counts as support). The reply's text is the verified answer with its ``[ID]`` citations
and a sources list; the extra ``casepilot`` field holds the citations and the abstention, structured.
A stream sends only verified text, as soon as it is: its first chunk (the role, with the retrieved
records in ``casepilot.sources``) once retrieval is done, then the answer line by line as each line
passes verification (a model's reply while it arrives), then the sources list; every chunk carries
the answer's id.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from assistant.answering import Answer
from assistant.curated import curated_note
from assistant.errors import BackendError
from assistant.promises import warning_text
from assistant.tokens import count_tokens

from ..auth import Agent
from ..deps import AppState, State, check_conversation, check_question
from ..fairness import ReleasingIterator, asked_chars
from ..problems import Problem, from_error
from ..schemas.answers import Turn
from ..schemas.openai_compat import ChatCompletionOut, ChatCompletionRequest, ChatMessage, ModelsOut
from . import ERRORS
from .answers import answer_out, produced, record_answer, sources_of

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
MODEL = "casepilot"
PIECE = 24  # characters per streamed delta


def _text(m: ChatMessage) -> str:
    if isinstance(m.content, str):
        return m.content
    if m.content is None:
        return ""
    return "".join(str(part.get("text", "")) for part in m.content if part.get("type") == "text")


def _conversation(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    if messages[-1].role != "user":
        raise Problem(422, "validation_error", "the last message must be the user's question")
    # built without validation: check_conversation turns an over-long message into a 422 problem
    turns = [Turn.model_construct(role="user" if m.role == "user" else "assistant", text=_text(m))
             for m in messages[:-1] if m.role in ("user", "assistant") and _text(m).strip()]
    return _text(messages[-1]), turns


def content_of(a: Answer) -> str:
    """The message text: the answer (each sentence cited [ID]) and the cited records' titles."""
    titles = {h.id: h.title for h in a.context}
    if a.curated:
        return a.answer + "\n\n" + curated_note(a.curated)
    if a.abstained:
        lines = [f"- {h.id} {h.title}" for h in a.related]
        return a.answer + ("\n\n最接近的记录：\n" + "\n".join(lines) if lines else "")
    cited = list(dict.fromkeys(c.id for c in a.citations))
    text = a.answer + "\n\n来源：\n" + "\n".join(f"[{rid}] {titles.get(rid, '')}".rstrip() for rid in cited)
    if a.promises:  # a chat client shows only the text: the warning is part of it
        text += "\n\n" + warning_text(a.promises)
    return text


def extra_of(a: Answer) -> dict[str, Any]:
    out = answer_out(a)
    return {"answer_id": a.id, "citations": [c.model_dump() for c in out.citations], "abstained": a.abstained,
            "related": [r.model_dump() for r in out.related], "support": out.support,
            "promises": [f.model_dump() for f in out.promises],
            "curated": out.curated.model_dump() if out.curated else None}


@router.post("/chat/completions", summary="OpenAI-compatible chat completion (stream or not), answered from the "
             "library with citations", response_model=ChatCompletionOut,
             responses={200: {"content": {"text/event-stream": {"schema": {
                 "type": "object", "required": ["data"], "description": "one Server-Sent Event",
                 "properties": {"data": {"type": "string",
                                         "description": "a chat.completion.chunk (JSON), or [DONE]"}}}}},
                              "description": "a chat.completion, or with stream=true chat.completion.chunk events "
                              "ending with data: [DONE]; the last chunk carries the casepilot field"}, **ERRORS})
def chat_completions(body: ChatCompletionRequest, p: Agent, st: State) -> Any:
    if body.model != MODEL:
        raise Problem(404, "not_found", f"the model {body.model!r} does not exist; use {MODEL!r}")
    question, turns = _conversation(body.messages)
    question = check_question(question, st.settings)
    conversation = check_conversation(turns, st.api)
    tenant = st.tenants.get(p.tenant)
    chars = asked_chars(question, conversation)
    if body.stream:
        return StreamingResponse(ReleasingIterator(_stream(st, p.tenant, question, conversation),
                                                   st.fair.take(p.tenant, chars)),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    with st.fair.hold(p.tenant, chars), tenant.read():
        try:
            a = tenant.assistant.ask(question, conversation=conversation)
        except BackendError:
            st.metrics.model_failed(tenant.assistant.engine.name)
            raise
    record_answer(st, a)
    content = content_of(a)
    return ChatCompletionOut.model_validate({
        "id": f"chatcmpl-{a.id}", "created": int(time.time()), "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": usage(body, content), "casepilot": extra_of(a)})


def usage(body: ChatCompletionRequest, content: str) -> dict[str, int]:
    """Tokens (cl100k_base) of the messages received and of the reply sent. Not what a model behind
    casepilot was billed: the extractive engine calls none, and a model reads retrieved cases too."""
    prompt = sum(count_tokens(_text(m)) for m in body.messages)
    completion = count_tokens(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chunk(cid: str, created: int, delta: dict[str, Any], finish: str | None = None,
           extra: dict[str, Any] | None = None) -> str:
    obj: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL,
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if extra is not None:
        obj["casepilot"] = extra
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _stream(st: AppState, tenant_name: str, question: str, conversation: list[dict[str, str]]) -> Iterator[str]:
    created = int(time.time())
    cid, sent = "", ""
    for ev in produced(st, tenant_name, lambda a: a.ask_stream(question, conversation=conversation)):
        if ev["event"] == "sources":
            cid = f"chatcmpl-{ev['id']}"
            yield _chunk(cid, created, {"role": "assistant", "content": ""},
                         extra={"answer_id": ev["id"], "sources": sources_of(ev["hits"])})
        elif ev["event"] == "text":
            sent += ev["text"]
            yield _chunk(cid, created, {"content": ev["text"]})
        elif ev["event"] == "answer":
            a: Answer = ev["answer"]
            text = content_of(a)
            # the lines sent are the answer's first lines (ask_stream); the rest is sent in pieces
            rest = text[len(sent):] if text.startswith(sent) else "\n\n" + text
            for i in range(0, len(rest), PIECE):
                yield _chunk(cid, created, {"content": rest[i : i + PIECE]})
            yield _chunk(cid, created, {}, "stop", extra_of(a))
            yield "data: [DONE]\n\n"
        elif ev["event"] == "error":
            prob = from_error(ev["error"])
            err = {"error": {"message": prob.detail, "type": prob.code, "code": prob.code}}
            yield f"data: {json.dumps({**({'id': cid} if cid else {}), **err}, ensure_ascii=False)}\n\n"


@router.get("/models", summary="OpenAI-compatible model list (one model: casepilot)", response_model=ModelsOut,
            responses=ERRORS)
def models(p: Agent) -> ModelsOut:
    return ModelsOut.model_validate({"data": [{"id": MODEL, "created": 0, "owned_by": "casepilot"}]})

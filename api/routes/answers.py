"""Asking, chatting within a ticket, answer feedback and the unanswered questions."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from assistant.answering import Answer, Assistant
from assistant.conversation import chat as chat_turn
from assistant.conversation import chat_stream, conversation_of
from assistant.errors import BackendError, CasepilotError
from assistant.gap_drafts import draft_cluster, group_extra, library_report
from assistant.gaps import find_cluster, report_dict, unanswered
from assistant.types import SearchHit
from ingestion.pipeline import Ingestor

from ..auth import Agent, Reviewer
from ..deps import AppState, PathId, State, check_conversation, check_question, readable_record, to_filters
from ..fairness import ReleasingIterator, Slot, asked_chars
from ..problems import Problem, from_error, problem_body
from ..schemas.answers import (
    AnswerOut,
    AskRequest,
    ChatRequest,
    FeedbackOut,
    FeedbackRequest,
    GapDraftOut,
    GapGroupsOut,
    GapsOut,
    OpenedOut,
    OpenedRequest,
)
from . import ERRORS, _problem

router = APIRouter(prefix="/v1", tags=["answers"])

SSE_DOC = {"text/event-stream": {
    "schema": {"type": "object", "required": ["data"], "description": "one Server-Sent Event",
               "properties": {"event": {"type": "string", "enum": ["sources", "delta", "answer", "error"]},
                              "data": {"type": "string", "contentMediaType": "application/json",
                                       "description": "sources: {answer_id, sources: [{id, title, kind, score}]}; "
                                                      "delta: {text}; answer: AnswerOut; error: ProblemOut"}}},
    "example": 'event: sources\ndata: {"answer_id": "…", "sources": [{"id": "C-000101", "title": "…", '
               '"kind": "case", "score": 0.82}]}\n\n'
               'event: delta\ndata: {"text": "1. 登录路由器后台 [C-000101]\\n"}\n\n'
               'event: answer\ndata: {"id": "…", "answer": "…", "citations": [...], "abstained": false, ...}\n\n'}}


def answer_out(a: Answer) -> AnswerOut:
    return AnswerOut.model_validate(a.to_dict())


def record_answer(st: AppState, a: Answer) -> None:
    st.metrics.answered(a.engine, a.abstained, a.seconds, bool(a.fallback))


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/ask", summary="Answer a question from the library, with verified citations",
             response_model=AnswerOut,
             responses={200: {"content": SSE_DOC, "description": "the answer (JSON), or Server-Sent Events: "
                              "one `sources` event with the retrieved records as soon as retrieval is done, `delta` "
                              "events with the engine's text as it is produced (not yet verified), then one `answer` "
                              "event with the verified answer, or an `error` event (problem details)"},
                        **ERRORS})
def ask(body: AskRequest, p: Agent, st: State,
        accept: Annotated[str, Header(include_in_schema=False)] = "") -> Any:
    question = check_question(body.question, st.settings)
    conversation = check_conversation(body.conversation, st.api)
    filters = to_filters(body.filters, p)
    tenant = st.tenants.get(p.tenant)
    if body.ticket_id:
        rec = tenant.library.store.get(p.tenant, body.ticket_id)
        if rec is None or rec.kind != "ticket":
            raise Problem(404, "not_found", f"no ticket {body.ticket_id!r} in this tenant")
    chars = asked_chars(question, conversation)
    if body.stream or "text/event-stream" in accept:
        return _sse_response(st, p.tenant, lambda a: a.ask_stream(question, body.ticket_id, conversation, filters),
                             st.fair.take(p.tenant, chars))
    with st.fair.hold(p.tenant, chars), tenant.read():
        try:
            a = tenant.assistant.ask(question, ticket=body.ticket_id, conversation=conversation, filters=filters)
        except BackendError:
            st.metrics.model_failed(tenant.assistant.engine.name)
            raise
    record_answer(st, a)
    return answer_out(a)


def _sse_response(st: AppState, tenant_name: str, events: Callable[[Assistant], Iterator[dict[str, Any]]],
                  slot: Slot | None = None) -> Any:
    """``slot``: a long request's place (api/fairness.py), given up when the stream ends or is dropped."""
    return StreamingResponse(ReleasingIterator(_sse(produced(st, tenant_name, events)), slot),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def sources_of(hits: list[SearchHit]) -> list[dict[str, Any]]:
    return [{"id": h.id, "title": h.title, "kind": h.kind, "score": h.score} for h in hits]


def _sse(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    """Server-sent events of ``Assistant.ask_stream``'s events; its verified ``text`` pieces are not
    sent, since the ``answer`` event carries the verified answer whole."""
    for ev in events:
        if ev["event"] == "sources":
            yield sse("sources", {"answer_id": ev["id"], "sources": sources_of(ev["hits"])})
        elif ev["event"] == "delta":
            yield sse("delta", {"text": ev["text"]})
        elif ev["event"] == "answer":
            yield sse("answer", answer_out(ev["answer"]).model_dump(mode="json"))
        elif ev["event"] == "error":
            p = from_error(ev["error"])
            yield sse("error", problem_body(p.status, p.code, p.detail))


def produced(st: AppState, tenant_name: str,
             events: Callable[[Assistant], Iterator[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """The assistant's events, each handed on as soon as it is produced. They are produced under the
    tenant's read lock by a thread of their own into an unbounded queue, so a slow or stalled client
    never holds the lock or a read slot. Answers and model failures are counted in the metrics."""
    tenant = st.tenants.get(tenant_name)
    out: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def produce() -> None:
        try:
            with tenant.read():
                for ev in events(tenant.assistant):
                    if ev["event"] == "answer":
                        record_answer(st, ev["answer"])
                    elif ev["event"] == "error" and isinstance(ev["error"], BackendError):
                        st.metrics.model_failed(tenant.assistant.engine.name)
                    out.put(ev)
        except CasepilotError as e:  # e.g. the lock's catch-up failed
            out.put({"event": "error", "error": e})
        finally:
            out.put(None)

    threading.Thread(target=produce, daemon=True, name="casepilot-sse").start()
    while (ev := out.get()) is not None:
        yield ev


@router.post("/chat", summary="Ask the next question of a ticket's (or a free thread's) conversation; turns are kept",
             response_model=AnswerOut,
             responses={200: {"content": SSE_DOC, "description": "the answer (JSON), or Server-Sent Events as for "
                              "/v1/ask; the turns are stored when the `answer` event is sent"},
                        **ERRORS})
def chat(body: ChatRequest, p: Agent, st: State,
         accept: Annotated[str, Header(include_in_schema=False)] = "") -> Any:
    question = check_question(body.question, st.settings)
    tenant = st.tenants.get(p.tenant)
    thread = body.thread_id is not None
    # an unknown ticket (a thread named like a stored ticket) is refused before a stream starts
    conv_id, _ = conversation_of(tenant.library, body.thread_id or body.ticket_id or "", thread=thread)
    if body.stream or "text/event-stream" in accept:
        return _sse_response(st, p.tenant, lambda a: chat_stream(a, conv_id, question, thread=thread,
                                                                 history=st.api.chat_history_turns),
                             st.fair.take(p.tenant, len(question)))
    with st.fair.hold(p.tenant, len(question)), tenant.read():
        try:
            a = chat_turn(tenant.assistant, conv_id, question, history=st.api.chat_history_turns, thread=thread)
        except BackendError:
            st.metrics.model_failed(tenant.assistant.engine.name)
            raise
    record_answer(st, a)
    return answer_out(a)


@router.post("/answers/{answer_id}/feedback", summary="Rate an answer helpful or not, with a comment",
             response_model=FeedbackOut, status_code=201, responses=ERRORS)
def feedback(answer_id: str, body: FeedbackRequest, p: Agent, st: State) -> FeedbackOut:
    row = st.store.add_feedback(p.tenant, answer_id.strip(), body.helpful, body.comment, rater=f"api:{p.key_id}")
    return FeedbackOut.model_validate(asdict(row))


@router.post("/answers/{answer_id}/opened", summary="Record that the agent opened a cited or related record "
             "from an answer (a weak positive for the ratings' prior, docs/ranking.md)",
             response_model=OpenedOut, status_code=201, responses=ERRORS)
def opened(answer_id: str, body: OpenedRequest, p: Agent, st: State) -> OpenedOut:
    rec = readable_record(body.record_id, p, st)
    row = st.store.add_open(p.tenant, answer_id.strip(), rec.id, rater=f"api:{p.key_id}")
    return OpenedOut(id=row.id, answer_id=row.answer_id, record_id=row.record_id, rater=row.rater,
                     created_at=row.created_at)


@router.get("/gaps", summary="The questions the library could not answer, newest first",
            response_model=GapsOut, responses=ERRORS)
def gaps(p: Reviewer, st: State, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> GapsOut:
    return GapsOut.model_validate({"unanswered": [asdict(g) for g in unanswered(st.store, p.tenant, limit)]})


@router.get("/gaps/groups", summary="The unanswered and unhelpful questions of a period grouped by meaning, "
            "most asked first, each against the period before (docs/gaps.md)", response_model=GapGroupsOut,
            responses=ERRORS)
def gap_groups(p: Reviewer, st: State, days: Annotated[int, Query(ge=1, le=366)] = 30,
               limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> GapGroupsOut:
    lib = st.tenants.get(p.tenant).library
    # reads the answer log and embeds, never the indexes: no tenant lock, but always a long request's slot
    with st.fair.hold(p.tenant, st.fair.expensive_chars + 1):
        report = library_report(lib, days=days)
        return GapGroupsOut.model_validate(report_dict(report, limit, group_extra(lib)))


@router.post("/gaps/groups/{key}/draft", summary="Draft a gap group's missing article into the review queue, "
             "from the agents' replies in its tickets", response_model=GapDraftOut, status_code=201,
             description="Extractive by default (the model when CASEPILOT_LLM names one); each sentence cites "
                         "the ticket message it came from. 404: no group with that key in the period; 409: "
                         "the group's tickets hold no agent's reply, or its draft was already decided (nothing "
                         "is created).", responses={**ERRORS, 409: _problem("nothing to draft from, or "
                                                                             "drafted and decided before")})
def gap_draft(key: PathId, p: Reviewer, st: State,
              days: Annotated[int, Query(ge=1, le=366)] = 30) -> GapDraftOut:
    tenant = st.tenants.get(p.tenant)
    with st.fair.hold(p.tenant, st.fair.expensive_chars + 1):  # the report, as GET /v1/gaps/groups makes it
        cluster = find_cluster(library_report(tenant.library, days=days), key)
    with tenant.write() as lib:
        d, cid = draft_cluster(lib, cluster, writer=Ingestor, actor=p.actor)
    return GapDraftOut(case_id=cid, key=cluster.key, draft=d.to_dict())

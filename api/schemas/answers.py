"""Asking and chatting (``/v1/ask``, ``/v1/chat``), feedback on an answer, and the questions the library
could not answer (``/v1/gaps``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from .common import VISIBLE, Id, Kind, Request_
from .curated import CuratedLabelOut


class Turn(Request_):
    role: Literal["user", "assistant"]
    text: str = Field(max_length=100_000)


class AnswerFilters(Request_):
    """Answers come from approved cases and published articles only; these narrow them further."""

    kind: list[Kind] = Field(default_factory=list, max_length=2)
    product: list[str] = Field(default_factory=list, max_length=20)
    tag: list[str] = Field(default_factory=list, max_length=20)
    id: list[Id] = Field(default_factory=list, max_length=100)


QUESTION_DOC = "the agent's question; its length limit is CASEPILOT_MAX_QUESTION_CHARS (the document shows it)"


class AskRequest(Request_):
    question: str = Field(max_length=100_000, pattern=VISIBLE, description=QUESTION_DOC)
    ticket_id: Id | None = Field(default=None,
                                 description="a stored ticket whose subject and last messages inform the answer")
    conversation: list[Turn] = Field(default_factory=list, description="earlier turns, oldest first")
    filters: AnswerFilters | None = None
    stream: StrictBool = Field(default=False,
                               description="answer as Server-Sent Events (so does Accept: text/event-stream)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "客户的打印机连不上WiFi，路由器只开了5G，怎么办？"},
        {"question": "那如果是有线连接呢？", "conversation": [
            {"role": "user", "text": "打印机连不上WiFi怎么办"}, {"role": "assistant", "text": "..."}]},
    ]})


def _ticket_or_thread(schema: dict[str, Any]) -> None:
    """The document says what ``ChatRequest`` checks: exactly one of ticket_id and thread_id, not null."""
    for name in ("ticket_id", "thread_id"):
        prop = schema["properties"][name]
        prop.update(next(s for s in prop.pop("anyOf") if s.get("type") == "string"))
        prop.pop("default", None)
    schema["oneOf"] = [{"required": ["ticket_id"]}, {"required": ["thread_id"]}]
    schema["examples"] = [{"ticket_id": "T-2024-0301", "question": "客户说每月被扣两次费，怎么处理？"},
                          {"thread_id": "billing-questions", "question": "年付订阅能退款吗？"}]


class ChatRequest(Request_):
    ticket_id: Id | None = Field(default=None, description="a stored ticket (404 when it is not one)")
    thread_id: Id | None = Field(default=None, description="or a free chat thread, about no stored ticket")
    question: str = Field(max_length=100_000, pattern=VISIBLE, description=QUESTION_DOC)
    stream: StrictBool = Field(default=False,
                               description="answer as Server-Sent Events (so does Accept: text/event-stream)")

    @model_validator(mode="after")
    def _one_conversation(self) -> ChatRequest:
        for name in ("ticket_id", "thread_id"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} is null; leave it out instead")
        if (self.ticket_id is None) == (self.thread_id is None):
            raise ValueError("give ticket_id (a stored ticket) or thread_id (a free thread), not both or neither")
        return self

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ticket_or_thread)


class CitationOut(BaseModel):
    id: str = Field(description="the cited case or article")
    quote: str = Field(description="the sentence of the record that supports the answer's sentence")
    section: str
    verified: bool
    heading: str | None = Field(default=None, description="where in an article the quote is: 安装指南 > 无线网络")
    page: int | None = Field(default=None, description="the page of a PDF document the quote is on")


class RelatedOut(BaseModel):
    id: str
    title: str
    kind: str
    score: float


class PromiseOut(BaseModel):
    """A sentence that commits to what its source does not say (assistant.promises.Flag)."""

    sentence: str
    category: str = Field(description="the policy's category: refund, compensation, deadline, legal, medical, "
                                      "guarantee (or the owner's own)")
    label: str = Field(description="the category's label, for people: 退款, 时限, …")
    reason: Literal["uncited", "topic", "quantity", "word", "library"] = Field(
        description="uncited: the sentence cites nothing; topic: its source says nothing of the kind; quantity / "
                    "word: the source does not give the same amounts or days (missing); library: no approved "
                    "record makes the commitment (drafts)")
    why: str
    source: str = Field(description="the record (or ticket messages) it was checked against")
    missing: list[str] = Field(description="the amounts or words the source does not hold")


class AnswerOut(BaseModel):
    id: str = Field(description="the logged answer's id, for feedback")
    answer: str = Field(description="every sentence followed by [ID] of the record it comes from")
    citations: list[CitationOut]
    abstained: bool = Field(description="true: the library does not know; related lists the closest records")
    related: list[RelatedOut]
    support: float
    unsupported: int = Field(description="sentences dropped (or flagged) because their record did not support them")
    engine: str
    prompt: str | None = None
    fallback: str | None = None
    promises: list[PromiseOut] = Field(
        default_factory=list, description="sentences that commit to a refund, compensation, a deadline, a legal or "
        "medical statement or a guarantee their cited record does not make: show them to the agent as a warning "
        "(docs/promises.md)")
    curated: CuratedLabelOut | None = Field(
        default=None, description="set when the answer is a reviewer's curated answer (engine 'curated'): served "
                                  "as written, without citations, for a question that means the same")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "5f0c3e7d9b8a4c21a0e4f6b1c2d3e4f5",
        "answer": "原因：路由器关闭了2.4GHz频段，而打印机只支持2.4GHz。 [C-000101]\n1. 登录路由器后台 [C-000101]",
        "citations": [{"id": "C-000101", "quote": "登录路由器后台", "section": "solution", "verified": True}],
        "abstained": False, "related": [{"id": "KB-0001", "title": "打印机无线网络配置指南", "kind": "article",
                                         "score": 0.81}],
        "support": 0.79, "unsupported": 0, "engine": "extractive", "promises": []}]})


class FeedbackRequest(Request_):
    helpful: StrictBool
    comment: str = Field(default="", max_length=2000)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"helpful": False, "comment": "步骤过时了"}]})


class FeedbackOut(BaseModel):
    id: int | None
    answer_id: str
    helpful: StrictBool
    comment: str
    created_at: str
    rater: str = Field(default="", description="who rated: api:KEY_ID for a key; each rater's say in ranking is capped")


class OpenedRequest(Request_):
    record_id: Id = Field(description="the cited or related case or article the agent opened from the answer")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"record_id": "C-000101"}]})


class OpenedOut(BaseModel):
    id: int
    answer_id: str
    record_id: str
    rater: str
    created_at: str


# assistant.gaps.Gap on the wire (a test holds the two to the same fields)
class GapOut(BaseModel):
    question: str
    at: str
    ticket: str | None
    support: float


class GapsOut(BaseModel):
    unanswered: list[GapOut]

    model_config = ConfigDict(json_schema_extra={"examples": [{"unanswered": [
        {"question": "速达国际件能寄带锂电池的蓝牙耳机去美国吗？", "at": "2026-11-23T10:00:00+00:00",
         "ticket": None, "support": 0.41}]}]})


class GapReplyOut(BaseModel):
    ticket_id: str
    message_id: str
    author: str
    at: str
    text: str = Field(description="the agent's message without greetings, waiting or rating requests, "
                                  "a sentence a line")


class GapGroupDraftOut(BaseModel):
    case_id: str | None
    status: str = Field(description="in_review | approved | rejected | merged")


class GapGroupOut(BaseModel):
    key: str = Field(description="names the group across requests (POST /v1/gaps/groups/{key}/draft)")
    question: str = Field(description="the group's most central wording")
    count: int = Field(description="questions in the period")
    previous: int = Field(description="questions of the group in the period before")
    trend: int = Field(description="count - previous")
    examples: list[str] = Field(description="distinct wordings, most central first")
    reasons: dict[str, int] = Field(description="how many were unanswered, how many rated not helpful")
    tickets: list[str]
    answer_ids: list[str]
    first_at: str
    last_at: str
    replies: list[GapReplyOut] = Field(description="the agents' replies in the group's tickets (the first 20 "
                                                   "stored tickets), in ticket order")
    draft: GapGroupDraftOut | None = Field(description="the draft made of the group (POST .../draft), if any")


class GapGroupsOut(BaseModel):
    since: str
    previous_since: str
    days: int
    groups: list[GapGroupOut]
    total_groups: int


class GapDraftOut(BaseModel):
    case_id: str = Field(description="the in_review case drafted from the group (GET /v1/review/{case_id})")
    key: str
    draft: dict[str, Any] = Field(description="sections, each sentence with the messages it came from "
                                              "(TICKET#MESSAGE; answer:ID for the questions); tags; duplicates")

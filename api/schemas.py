"""Request and response bodies of the HTTP API: its contract, kept apart from the internal
dataclasses (``Answer``, ``SearchHit``, ``StoredRecord``), which may change without breaking clients.

Requests forbid unknown fields, so a forged ``tenant`` (or any typo) is a 422, never silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, model_validator

from assistant.errors import InputError
from assistant.ids import ID_PATTERN, check_id

Role = Literal["agent", "reviewer", "admin"]
Kind = Literal["case", "article"]
Status = Literal["draft", "in_review", "approved", "rejected", "archived", "published", "any"]
# at least one character that str.strip() keeps (JSON Schema's \S still matches U+0085 and others)
VISIBLE = r"[^\s\u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def valid_id(value: str) -> str:
    """``assistant.ids.check_id`` for request fields and path parameters: a look-alike id is a 422.
    Blanks around an id are refused too (the command line strips them), as ``ID_PATTERN`` says."""
    try:
        rid = check_id(value)
    except InputError as e:
        raise ValueError(str(e)) from None
    if value != value.strip():
        raise ValueError(f"id {value!r} has blanks around it")
    return rid


ID_DOC = "no white space or invisible characters, no '/', '\\', '#' or '..', not starting with '.' or '-'; NFC"
# the id rule (assistant.ids) in the document, checked by valid_id (pydantic's regex engine cannot run it)
ID_SCHEMA: dict[str, Any] = {"pattern": ID_PATTERN}
# an id of a case, article, ticket or thread, NFC-normalised
Id = Annotated[str, Field(min_length=1, max_length=200, description=ID_DOC, json_schema_extra=ID_SCHEMA),
               AfterValidator(valid_id)]


class Request_(BaseModel):
    """Unknown fields are 422s; so are booleans given as numbers or strings (``"explain": 0``)."""

    model_config = ConfigDict(extra="forbid")


# ---- answers -----------------------------------------------------------------------------------


class Turn(Request_):
    role: Literal["user", "assistant"]
    text: str = Field(max_length=100_000)


class SearchFilters(Request_):
    """Every list holds alternatives, except ``tag`` (all required). ``status`` (reviewer and admin
    keys only) lifts the default of approved cases and published articles; ``any`` means any."""

    kind: list[Kind] = Field(default_factory=list, max_length=2)
    product: list[str] = Field(default_factory=list, max_length=20)
    tag: list[str] = Field(default_factory=list, max_length=20)
    id: list[Id] = Field(default_factory=list, max_length=100)
    status: list[Status] = Field(default_factory=list, max_length=7)


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

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "5f0c3e7d9b8a4c21a0e4f6b1c2d3e4f5",
        "answer": "原因：路由器关闭了2.4GHz频段，而打印机只支持2.4GHz。 [C-000101]\n1. 登录路由器后台 [C-000101]",
        "citations": [{"id": "C-000101", "quote": "登录路由器后台", "section": "solution", "verified": True}],
        "abstained": False, "related": [{"id": "KB-0001", "title": "打印机无线网络配置指南", "kind": "article",
                                         "score": 0.81}],
        "support": 0.79, "unsupported": 0, "engine": "extractive"}]})


class SearchRequest(Request_):
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=5, ge=1, le=100)
    filters: SearchFilters | None = None
    explain: StrictBool = False

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"query": "印表機連不上網路", "k": 3}, {"query": "E-1024", "filters": {"kind": ["case"]}, "explain": True}]})


class HitOut(BaseModel):
    id: str
    kind: str
    title: str
    score: float
    section: str
    snippet: str
    heading: str = ""  # where in an article the hit is: "安装指南 > 无线网络 > 5GHz"
    explain: dict[str, Any] | None = None


class SearchOut(BaseModel):
    results: list[HitOut]

    model_config = ConfigDict(json_schema_extra={"examples": [{"results": [
        {"id": "C-000102", "kind": "case", "title": "办公室新打印机连不上公司无线网", "score": 1.0,
         "section": "problem", "snippet": "某律所新采购两台锐印 RP-M227 打印机…"}]}]})


class RecordOut(BaseModel):
    id: str
    kind: str
    status: str
    title: str
    product: str
    version: int
    created_at: str
    updated_at: str
    data: dict[str, Any] = Field(description="the record's fields as stored (DESIGN.md)")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "C-000102", "kind": "case", "status": "approved", "title": "办公室新打印机连不上公司无线网",
        "product": "RP-M227", "version": 1, "created_at": "2026-11-23T10:00:00+00:00",
        "updated_at": "2026-11-23T10:00:00+00:00",
        "data": {"id": "C-000102", "kind": "case", "title": "办公室新打印机连不上公司无线网", "problem": "…"}}]})


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


# ---- imports -----------------------------------------------------------------------------------


class RejectOut(BaseModel):
    line: int | None
    field: str | None
    error: str


class ImportConflictOut(BaseModel):
    id: str
    reviewed_version: int = Field(description="the version written in review since the record's last import")
    reviewed_by: str
    reviewed_at: str
    imported_version: int | None = Field(None, description="the record's last imported version")
    file: str = Field("", description="where the import's version is: upload:LINE")
    applied: bool = Field(False, description="whether the import's version replaced the reviewed one "
                                             "(overwrite_reviewed=true)")


class ImportSummaryOut(BaseModel):
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: list[RejectOut] = Field(default_factory=list)
    chunks_written: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    redacted: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    conflicts: list[ImportConflictOut] = Field(
        default_factory=list, description="records changed in review since their last import whose upload "
                                          "version differs from that import: the reviewed version was kept")
    overwritten: list[ImportConflictOut] = Field(
        default_factory=list, description="the same, replaced on purpose (overwrite_reviewed=true; audited)")
    kept_reviewed: list[str] = Field(
        default_factory=list, description="records changed in review whose upload holds what was last "
                                          "imported: nothing applied, counted unchanged")


class ImportJobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "interrupted"] = Field(
        description="interrupted: the host running it stopped; post the upload again")
    total: int = Field(description="records in the upload (lines that are not blank)")
    done: int = Field(description="records imported so far")
    summary: ImportSummaryOut | None = None
    error: str = ""
    created_at: str
    updated_at: str

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "9c1b2a3d4e5f60718293a4b5c6d7e8f9", "status": "done", "total": 3, "done": 2,
        "summary": {"added": 2, "updated": 0, "unchanged": 0, "removed": 0,
                    "rejected": [{"line": 3, "field": "severity", "error": "'P9' is not one of P1, P2, P3, P4"}]},
        "error": "", "created_at": "2026-11-23T10:00:00+00:00", "updated_at": "2026-11-23T10:00:02+00:00"}]})


# ---- review ------------------------------------------------------------------------------------


class DraftRequest(Request_):
    ticket_id: Id
    redraft: StrictBool = Field(default=False, description="draft again a ticket whose draft was already decided")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ticket_id": "T-2024-0301"}]})


class DraftOut(BaseModel):
    case_id: str | None = Field(description="the in_review case; null when the ticket was skipped")
    skipped: str = Field(default="", description="why the ticket was not drafted")
    draft: dict[str, Any] = Field(description="sections, each sentence with its message ids; tags; duplicates")


class QueueItemOut(BaseModel):
    id: str
    title: str
    updated_at: str
    ticket_id: str
    duplicates: list[dict[str, Any]]


class QueueOut(BaseModel):
    queue: list[QueueItemOut]


class ReviewShowOut(BaseModel):
    case: dict[str, Any]
    status: str
    version: int
    instructions: list[dict[str, str]] = Field(
        default_factory=list, description="sentences that address the assistant ({section, sentence}): never quoted")
    draft: dict[str, Any] | None
    stats: dict[str, int]
    audit: list[dict[str, Any]]
    ticket: dict[str, Any] | None = Field(default=None, description="the source ticket (its messages), when stored")


Editable = Literal["title", "problem", "diagnosis", "solution", "outcome", "tags", "product", "product_version",
                   "severity"]


class ApproveRequest(Request_):
    edits: dict[Editable, str | list[str]] = Field(default_factory=dict, description="fields changed on approval")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"edits": {"severity": "P2"}}]})


class EditRequest(Request_):
    edits: dict[Editable, str | list[str]] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"edits": {"title": "打印机连不上5GHz WiFi", "tags": ["产品线/打印机", "问题类型/网络连接"]}}]})


class RejectRequest(Request_):
    reason: str = Field(min_length=1, max_length=2000, pattern=VISIBLE)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "与 C-000101 重复"}]})


class MergeRequest(Request_):
    into: Id = Field(description="the approved case the draft merges into")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"into": "C-000101"}]})


class CaseStateOut(BaseModel):
    id: str
    status: str
    version: int
    warnings: list[str] = Field(default_factory=list,
                                description="what the write noticed, e.g. a tag that is not in the taxonomy")

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "CD-T-2024-0301", "status": "approved",
                                                               "version": 2}]})


# ---- tags --------------------------------------------------------------------------------------


class TagsRequest(Request_):
    text: str = Field(min_length=1, max_length=20_000)
    k: int | None = Field(default=None, ge=1, le=50)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": "打印机连不上公司WiFi"}]})


class TagOut(BaseModel):
    tag: str
    confidence: float


class TagsOut(BaseModel):
    tags: list[TagOut] = Field(description="the confident picks, best first; empty when abstained")
    abstained: bool = Field(description="no candidate was likely enough to pick (the candidates are still listed)")
    candidates: list[TagOut] = Field(default_factory=list,
                                     description="the best k tags with their confidences, picked or not, best first")
    warnings: list[str] | None = Field(default=None, description="only when there is something to say: that a long "
                                       "text was searched for similar records by its beginning")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"tags": [{"tag": "产品线/打印机", "confidence": 0.81}], "abstained": False,
         "candidates": [{"tag": "产品线/打印机", "confidence": 0.81},
                        {"tag": "问题类型/网络连接", "confidence": 0.24}]}]})


# ---- the web console's reads -------------------------------------------------------------------


class MeOut(BaseModel):
    """Who the presented key is: the console shows only what this role may do."""

    key_id: str
    tenant: str
    role: Role
    name: str

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"key_id": "6b656b8c885f", "tenant": "default", "role": "reviewer", "name": "helpdesk"}]})


class TaxonomyValueOut(BaseModel):
    tag: str = Field(description="dimension/value, as cases and suggestions write it")
    value: str
    synonyms: list[str]
    description: str


class TaxonomyDimensionOut(BaseModel):
    name: str
    values: list[TaxonomyValueOut]


class TaxonomyOut(BaseModel):
    version: int = Field(0, description="the tenant's taxonomy version (each change makes one); 0: none imported")
    dimensions: list[TaxonomyDimensionOut] = Field(description="empty when no taxonomy was imported")


class TaxonomyPutOut(TaxonomyOut):
    changed: bool = Field(description="false when the body is the taxonomy already stored (no new version)")
    warnings: list[str] = Field(default_factory=list,
                                description="values the new taxonomy drops that the tenant's records still carry")


class CaseStatsOut(BaseModel):
    id: str
    cited: int = Field(description="answers that cited the record")
    helpful: int = Field(description="of those, answers whose newest rating is helpful")
    not_helpful: int


class RankedCaseOut(CaseStatsOut):
    title: str
    kind: str


class LibraryStatsOut(BaseModel):
    answers: int = Field(description="the recent answers counted (at most the request's window)")
    most_cited: list[RankedCaseOut]
    lowest_rated: list[RankedCaseOut] = Field(description="rated records, most not-helpful share first")


class StaleCaseOut(BaseModel):
    id: str
    title: str
    reasons: list[str]


class StaleOut(BaseModel):
    stale: list[StaleCaseOut]


# ---- keys --------------------------------------------------------------------------------------


class KeyCreateRequest(Request_):
    role: Role
    name: str = Field(default="", max_length=200)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "agent", "name": "helpdesk"}]})


class KeyOut(BaseModel):
    id: str
    tenant: str
    role: str
    name: str
    created_at: str
    revoked_at: str | None = None


class KeyCreatedOut(KeyOut):
    key: str = Field(description="the key; shown this once, only its hash is stored")


class KeysOut(BaseModel):
    keys: list[KeyOut]


# ---- operations --------------------------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


class ProblemOut(BaseModel):
    """RFC 9457 problem details; ``code`` is stable."""

    type: str
    title: str
    status: int
    detail: str
    code: str

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "urn:casepilot:problem:not_found", "title": "Not found", "status": 404,
        "detail": "no case 'C-9' in tenant 'default'", "code": "not_found"}]})


# ---- OpenAI-compatible -------------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """The OpenAI chat-completions request; fields casepilot does not use (temperature, ...) are
    accepted and ignored. The last user message is the question; earlier user and assistant
    messages are the conversation; system messages are ignored (the assistant's own prompt rules)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "model": "casepilot", "messages": [{"role": "user", "content": "客户的打印机连不上WiFi，怎么办？"}]}]})

    model: str = Field(default="casepilot", max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: StrictBool = False


class CompletionMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class CompletionChoice(BaseModel):
    index: int
    message: CompletionMessage
    finish_reason: str


class CasepilotExtra(BaseModel):
    answer_id: str
    citations: list[CitationOut]
    abstained: bool
    related: list[RelatedOut]
    support: float


class ChatCompletionOut(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: dict[str, int]
    casepilot: CasepilotExtra = Field(description="the citations and abstention, structured")


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelsOut(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class TicketOut(BaseModel):
    """What ``POST /v1/tickets`` did with a helpdesk's ticket."""

    ticket_id: str = Field(description="the stored ticket's id (ZD-… for Zendesk, FD-… for Freshdesk)")
    stored: Literal["added", "updated", "unchanged"]
    status: str = Field(description="the ticket's status as stored")
    drafted: Literal["drafted", "skipped", "not_closed", "already_drafted", "already_decided"] = Field(
        description="drafted: a case is in review; skipped: nothing to draft (see reason); not_closed: stored "
                    "only; already_drafted: the same ticket again; already_decided: its draft was decided")
    case_id: str | None = Field(None, description="the case drafted from it, when there is one")
    reason: str = Field("", description="why it was not drafted")
    redacted: dict[str, int] = Field(default_factory=dict, description="values replaced by a placeholder, by kind")
    internal_notes: int = Field(0, description="internal notes kept with the ticket and left out of the draft")

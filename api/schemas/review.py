"""Drafting cases from tickets, the review queue and its decisions, stale cases, and tag suggestion."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from .answers import PromiseOut
from .common import VISIBLE, Id, Request_


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


class DraftPromiseOut(PromiseOut):
    section: str = Field(description="the case section the sentence is in")


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
    promises: list[DraftPromiseOut] = Field(
        default_factory=list, description="sentences that commit to a refund, compensation, a deadline, a legal "
        "or medical statement or a guarantee that their ticket messages or the library's approved records do not "
        "make (docs/promises.md)")


Editable = Literal["title", "problem", "diagnosis", "solution", "outcome", "tags", "product", "product_version",
                   "severity"]


class ApproveRequest(Request_):
    edits: dict[Editable, str | list[str]] = Field(default_factory=dict, description="fields changed on approval")
    distinct_reason: str = Field(default="", max_length=2000, description=(
        "why a draft flagged as a likely duplicate is a case of its own (audited); without it such a draft is "
        "refused with 409 duplicate_draft, and merging it is the other way forward"))

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {}, {"edits": {"severity": "P2"}}, {"distinct_reason": "另一个型号，分纸垫的位置不同"}]})


class EditRequest(Request_):
    edits: dict[Editable, str | list[str]] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"edits": {"title": "打印机连不上5GHz WiFi", "tags": ["产品线/打印机", "问题类型/网络连接"]}}]})


class RejectRequest(Request_):
    reason: str = Field(min_length=1, max_length=2000, pattern=VISIBLE)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "与 C-000101 重复"}]})


class MergeRequest(Request_):
    into: Id = Field(description="the approved case the draft merges into")
    edits: dict[Editable, str | list[str]] = Field(default_factory=dict, description=(
        "the reviewer's version of fields of the merged case (over the sections merged from the draft)"))
    preview: StrictBool = Field(default=False, description="return the merged sections without writing anything")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"into": "C-000101"}, {"into": "C-000101", "preview": True}]})


class MergeOut(BaseModel):
    id: str = Field(description="the case merged into")
    status: str
    version: int
    merged: dict[str, str | list[str]] = Field(description="the case's sections with the draft's merged in, "
                                               "as written (or as they would be, with preview)")
    preview: bool = False
    warnings: list[str] = Field(default_factory=list)


class StaleCaseOut(BaseModel):
    id: str
    title: str
    reasons: list[str]


class StaleOut(BaseModel):
    stale: list[StaleCaseOut]


class TagsRequest(Request_):
    text: str = Field(min_length=1, max_length=20_000, pattern=VISIBLE)
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

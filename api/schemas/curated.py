"""Reviewer-curated answers (``/v1/curated``, ``api/routes/curated.py``) and the label an answer
carries when it is one."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .common import VISIBLE, Request_

ANSWER_ID = r"^[0-9A-Za-z_-]{1,64}$"


class CuratedLabelOut(BaseModel):
    """On an answer that is a reviewer's curated answer (``AnswerOut.curated``)."""

    id: str = Field(description="the curated answer (GET /v1/curated/{id})")
    version: int
    reviewer: str = Field(description="who wrote this version")
    date: str = Field(description="when this version was written (ISO 8601, UTC)")
    question: str = Field(description="the question it was curated for")
    similarity: float = Field(description="question-space similarity of the two questions; 1 for the same wording")
    exact: bool = Field(description="the same wording after normalisation (width, script, case, punctuation)")


class CuratedOut(BaseModel):
    id: str
    version: int
    question: str
    answer: str
    reviewer: str
    status: str = Field(description="active (served) or retired")
    source_answer_id: str | None = Field(description="the logged answer it corrected, if any")
    created_at: str
    updated_at: str
    hits: int = Field(description="later questions it answered")
    last_hit_at: str | None

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "CA-1", "version": 2, "question": "发票抬头开错了怎么重开",
        "answer": "在开票系统作废原发票后按正确抬头重开。",
        "reviewer": "api:k1 (lin)", "status": "active", "source_answer_id": "5f0c3e7d9b8a4c21a0e4f6b1c2d3e4f5",
        "created_at": "2026-12-01T09:00:00+00:00", "updated_at": "2026-12-02T10:00:00+00:00", "hits": 14,
        "last_hit_at": "2026-12-07T08:30:00+00:00"}]})


class CuratedListOut(BaseModel):
    curated: list[CuratedOut] = Field(description="the most used first")


class CuratedVersionOut(BaseModel):
    version: int
    question: str
    answer: str
    reviewer: str
    status: str
    action: str = Field(description="create, edit or retire")
    reason: str
    at: str


class CuratedVersionsOut(BaseModel):
    id: str
    versions: list[CuratedVersionOut] = Field(description="oldest first; the last is the current version")


class CuratedRequest(Request_):
    question: str | None = Field(default=None, max_length=100_000, pattern=VISIBLE,
                                 description="the question; with from_answer, a rewording of the answer's question")
    answer: str = Field(max_length=20_000, pattern=VISIBLE, description="the curated answer")
    from_answer: str | None = Field(default=None, pattern=ANSWER_ID,
                                    description="a logged answer's id: correct it (its question is the question)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "发票抬头开错了怎么重开", "answer": "在开票系统作废原发票后按正确抬头重开。"},
        {"from_answer": "5f0c3e7d9b8a4c21a0e4f6b1c2d3e4f5", "answer": "在开票系统作废原发票后按正确抬头重开。"}]})


class CuratedEditRequest(Request_):
    question: str | None = Field(default=None, max_length=100_000, pattern=VISIBLE)
    answer: str | None = Field(default=None, max_length=20_000, pattern=VISIBLE)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"answer": "新的答案"}]})


class RetireRequest(Request_):
    reason: str = Field(default="", max_length=2000)

"""Reviewer-curated answers (``/v1/curated``, ``api/routes/curated.py``) and the label an answer
carries when it is one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


def _some_of(names: tuple[str, ...], examples: list[dict[str, Any]]) -> Callable[[dict[str, Any]], None]:
    """The document says what ``_given`` checks: at least one of ``names``, none of them null."""
    def extra(schema: dict[str, Any]) -> None:
        for name in names:
            prop = schema["properties"][name]
            prop.update(next(s for s in prop.pop("anyOf") if s.get("type") == "string"))
            prop.pop("default", None)
        schema["anyOf"] = [{"required": [n]} for n in names]
        schema["examples"] = examples
    return extra


def _given(model: BaseModel, names: tuple[str, ...]) -> None:
    for name in names:
        if name in model.model_fields_set and getattr(model, name) is None:
            raise ValueError(f"{name} is null; leave it out instead")
    if all(getattr(model, n) is None for n in names):
        raise ValueError(f"give {' or '.join(names)}")


class CuratedRequest(Request_):
    question: str | None = Field(default=None, max_length=100_000, pattern=VISIBLE,
                                 description="the question; with from_answer, a rewording of the answer's question")
    answer: str = Field(max_length=20_000, pattern=VISIBLE, description="the curated answer")
    from_answer: str | None = Field(default=None, pattern=ANSWER_ID,
                                    description="a logged answer's id: correct it (its question is the question)")

    @model_validator(mode="after")
    def _question_or_answer_id(self) -> CuratedRequest:
        _given(self, ("question", "from_answer"))
        return self

    model_config = ConfigDict(extra="forbid", json_schema_extra=_some_of(("question", "from_answer"), [
        {"question": "发票抬头开错了怎么重开", "answer": "在开票系统作废原发票后按正确抬头重开。"},
        {"from_answer": "5f0c3e7d9b8a4c21a0e4f6b1c2d3e4f5", "answer": "在开票系统作废原发票后按正确抬头重开。"}]))


class CuratedEditRequest(Request_):
    question: str | None = Field(default=None, max_length=100_000, pattern=VISIBLE)
    answer: str | None = Field(default=None, max_length=20_000, pattern=VISIBLE)

    @model_validator(mode="after")
    def _something(self) -> CuratedEditRequest:
        _given(self, ("question", "answer"))
        return self

    model_config = ConfigDict(extra="forbid", json_schema_extra=_some_of(("question", "answer"),
                                                                           [{"answer": "新的答案"}]))


class RetireRequest(Request_):
    reason: str = Field(default="", max_length=2000)

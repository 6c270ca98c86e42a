"""The flagged answers (``/v1/answers/flagged``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .answers import PromiseOut


class FlaggedAnswerOut(BaseModel):
    id: str
    created_at: str
    ticket_id: str | None
    question: str
    answer: str
    engine: str
    promises: list[PromiseOut]


class FlaggedOut(BaseModel):
    since: str
    days: int
    count: int = Field(description="answers flagged in the period (all of them, not only those listed)")
    categories: dict[str, int] = Field(description="flags of each category among the answers listed")
    answers: list[FlaggedAnswerOut] = Field(description="the newest flagged answers, up to limit")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "since": "2026-11-07T10:00:00+00:00", "days": 30, "count": 1, "categories": {"deadline": 1},
        "answers": [{"id": "5f0c3e7d9b8a4c21a0e4f6b1c2d3e4f5", "created_at": "2026-12-01T09:12:00+00:00",
                     "ticket_id": None, "question": "年付订阅能退款吗？", "answer": "…退款会在7天内到账。 [C-000131]",
                     "engine": "openai:qwen2.5", "promises": [{
                         "sentence": "退款会在7天内到账。", "category": "deadline", "label": "时限",
                         "reason": "quantity", "why": "commits to 7天; C-000131 does not say so",
                         "source": "C-000131", "missing": ["7天"]}]}]}]})

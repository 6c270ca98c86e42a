"""The OpenAI-compatible chat completions and model list (``/v1/chat/completions``, ``/v1/models``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from .answers import CitationOut, PromiseOut, RelatedOut
from .curated import CuratedLabelOut


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
    promises: list[PromiseOut] = Field(default_factory=list, description="as in /v1/ask (docs/promises.md)")
    curated: CuratedLabelOut | None = None


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

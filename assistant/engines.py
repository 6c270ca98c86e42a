"""One way to make a model: ``CASEPILOT_LLM`` (``extractive`` or ``openai:MODEL``) read in one place,
and the chat model or answer engine made from it for whoever asks (answers, tags, drafts, the
evaluation harness)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ConfigError
from .extractive import ExtractiveEngine
from .llm import ChatModel, OpenAIEngine
from .settings import Settings

if TYPE_CHECKING:
    from prompts import Prompt

    from .library import Library

EXTRACTIVE = "extractive"
OPENAI = "openai:"


def model_name(spec: str, what: str = "CASEPILOT_LLM") -> str | None:
    """The chat model ``spec`` names (``openai:MODEL``), or None for ``extractive``."""
    spec = spec.strip()
    if spec == EXTRACTIVE:
        return None
    if spec.startswith(OPENAI) and spec[len(OPENAI):]:
        return spec[len(OPENAI):]
    raise ConfigError(f"unknown {what} {spec!r}: use 'extractive' or 'openai:MODEL'")


def chat_model(settings: Settings, *, temperature: float | None = None) -> ChatModel | None:
    """The chat model of ``CASEPILOT_LLM`` with the settings' timeout and retries, or None (extractive)."""
    name = model_name(settings.llm)
    if name is None:
        return None
    return ChatModel(name, timeout=settings.llm_timeout, max_retries=settings.llm_max_retries,
                     temperature=settings.llm_temperature if temperature is None else temperature)


def answer_engine(settings: Settings, library: Library, *,
                  prompt: Prompt | None = None) -> ExtractiveEngine | OpenAIEngine:
    """The answer engine ``CASEPILOT_LLM`` names; ``prompt`` replaces a model engine's answer prompt
    (the extractive engine has none)."""
    chat = chat_model(settings)
    if chat is None:
        if prompt is not None:
            raise ConfigError("an answer prompt applies to an openai: engine; the extractive engine uses no prompt")
        return ExtractiveEngine(library)
    return OpenAIEngine(chat.model, settings, chat=chat, prompt=prompt)

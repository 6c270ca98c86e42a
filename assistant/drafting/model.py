"""Drafting with a chat model: the versioned ``prompts/draft.yaml`` asks for JSON in the case schema with
each sentence's message ids; an invalid reply gets one retry, then a clear error."""

from __future__ import annotations

import json
import re
from typing import Any

import prompts

from ..errors import BackendError
from ..types import CASE_SECTIONS
from .cues import skip_reason
from .draft import Draft, DraftSentence, severity, ticket_messages


def check_draft_json(raw: str, ticket: dict[str, Any]) -> Draft:
    """Validate a model's drafting reply against the case schema: JSON with ``title`` and a list of
    ``sentences`` (``section`` one of the four, ``text``, ``sources`` message ids of this ticket)."""
    msgs = {m["id"] for m in ticket_messages(ticket)}
    text = raw.strip()
    if text.startswith("```"):
        text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e.msg}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("title"), str) or not obj["title"].strip():
        raise ValueError("missing a non-empty 'title'")
    sents = obj.get("sentences")
    if not isinstance(sents, list) or not sents:
        raise ValueError("missing 'sentences'")
    out = []
    for n, s in enumerate(sents):
        if not isinstance(s, dict) or s.get("section") not in CASE_SECTIONS or not isinstance(s.get("text"), str):
            raise ValueError(f"sentence {n}: needs a section ({', '.join(CASE_SECTIONS)}) and a text")
        sources = [str(x) for x in s.get("sources") or [] if str(x) in msgs]  # ids outside the ticket: no source
        out.append(DraftSentence(s["section"], s["text"].strip(), sources))
    if not any(s.section == "solution" for s in out):
        raise ValueError("no solution sentence")
    return Draft(ticket_id=str(ticket.get("id") or ""), title=obj["title"].strip()[:80], sentences=out,
                 severity=severity(obj.get("severity") or ticket.get("priority")),
                 product=str(ticket.get("product") or ""))


def draft_with_model(ticket: dict[str, Any], chat: Any, model_name: str) -> Draft:
    """Draft with a chat model (``assistant.llm.ChatModel``): one retry on an invalid reply, then a
    clear error. Tickets that should not become cases are skipped before any model call."""
    msgs = ticket_messages(ticket)
    reason = skip_reason(ticket, msgs)
    if reason:
        return Draft(ticket_id=str(ticket.get("id") or ""), title="", skipped=reason, engine=model_name)
    prompt = prompts.load("draft")
    conversation = "\n".join(f"[{m['id']}] {m['role']}: {m['text']}" for m in msgs)
    messages = prompt.render(subject=str(ticket.get("subject") or ""), conversation=conversation)
    error = ""
    for _attempt in range(2):
        if error:
            messages = [*messages, {"role": "user", "content": f"上一次的输出无效（{error}）。只输出符合要求的 JSON。"}]
        raw = chat.complete(messages)
        try:
            d = check_draft_json(raw, ticket)
        except ValueError as e:
            error = str(e)
            continue
        d.engine = f"{model_name} ({prompt.label})"
        return d
    raise BackendError(model_name, f"drafting reply invalid twice: {error}")

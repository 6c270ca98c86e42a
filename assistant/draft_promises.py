"""The promise check of a case draft, for its reviewer: the draft's sentences that commit to a refund,
compensation, a deadline, a legal or medical statement or a guarantee (``assistant.promises``) are
flagged when

* the ticket messages a sentence cites do not make that commitment (a model drafter wrote it), or
* no approved case or published article of the library makes it: agents promise in tickets what no
  case says, and approving the draft would make that promise an answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .evidence import record_text
from .library import Library
from .promises import Flag, Policy
from .text import LIST_MARK, sentences
from .types import CASE_SECTIONS

LIBRARY_HITS = 3  # the approved records a committing sentence is checked against (the nearest by search)


def _sentences(case: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for section in CASE_SECTIONS:
        for line in str(case.get(section) or "").splitlines():
            for s in sentences(LIST_MARK.sub("", line.strip())):
                yield section, s


def _messages(lib: Library, ticket_id: str) -> dict[str, str]:
    rec = lib.store.get(lib.tenant, ticket_id) if ticket_id else None
    if rec is None or rec.kind != "ticket":
        return {}
    return {str(m.get("id") or ""): str(m.get("text") or "") for m in rec.data.get("messages") or []}


def _in_library(lib: Library, policy: Policy, sentence: str, case_id: str) -> tuple[list[Flag], list[str]]:
    """The sentence's commitments that none of the nearest approved records makes, and those records."""
    hits = [h for h in lib.search(sentence, LIBRARY_HITS + 1) if h.id != case_id][:LIBRARY_HITS]
    left = {c.category: c for c in policy.claims(sentence)}
    for h in hits:
        rec = lib.store.get(lib.tenant, h.id)
        if rec is None or not left:
            continue
        flagged = {f.category for f in policy.check(sentence, record_text(rec), h.id)}
        left = {k: c for k, c in left.items() if k in flagged}
    ids = [h.id for h in hits]
    closest = f" (searched: {', '.join(ids)})" if ids else ""
    return [Flag(sentence, c.category, c.label, "library", f"commits to {c.category} ({c.words}); no approved "
                 f"case or article says the same{closest}", ",".join(ids)) for c in left.values()], ids


def draft_flags(lib: Library, case: dict[str, Any], draft: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The flags of a case draft's sentences, each with its ``section``: ``case`` is the case record
    as it stands (edits included), ``draft`` the drafting payload (each sentence's message ids)."""
    policy = lib.promise_policy
    sources = {str(s.get("text") or ""): [str(x) for x in s.get("sources") or []]
               for s in (draft or {}).get("sentences") or []}
    tickets = [str(t) for t in case.get("source_tickets") or []]
    messages: dict[str, str] | None = None
    out: list[dict[str, Any]] = []
    for section, s in _sentences(case):
        if not policy.claims(s):
            continue
        flags: list[Flag] = []
        cited = sources.get(s) or sources.get(s.rstrip("。.!！"))
        if cited:
            if messages is None:
                messages = _messages(lib, tickets[0]) if tickets else {}
            text = "\n".join(messages.get(m, "") for m in cited)
            if text.strip():
                flags = policy.check(s, text, ",".join(cited))
        if not flags:
            flags, _ = _in_library(lib, policy, s, str(case.get("id") or ""))
        out += [{"section": section, **f.to_dict()} for f in flags]
    return out

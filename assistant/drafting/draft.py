"""A case draft: its sentences, each with the ticket messages it came from, and the case record it
becomes; and what both drafters read of a ticket (its messages, its priority)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InputError
from ..types import CASE_SECTIONS, SEVERITIES


@dataclass
class DraftSentence:
    section: str
    text: str
    sources: list[str]  # ids of the ticket messages it came from; empty: no source (marked for review)


@dataclass
class Draft:
    ticket_id: str
    title: str
    sentences: list[DraftSentence] = field(default_factory=list)
    severity: str = "P3"
    product: str = ""
    tags: list[tuple[str, float]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""  # why the ticket was not drafted; empty when it was
    engine: str = "extractive"

    def section(self, name: str) -> str:
        parts = [s.text for s in self.sentences if s.section == name]
        if name == "solution" and len(parts) > 1:
            return "\n".join(f"{i}. {p}" for i, p in enumerate(parts, 1))
        return "".join(p if p.endswith(("。", "！", "？", ".", "!", "?")) else p + "。" for p in parts)

    def case(self, case_id: str) -> dict[str, Any]:
        """The draft as a case record (``in_review``), in the DESIGN.md case model."""
        return {"kind": "case", "id": case_id, "title": self.title, **{s: self.section(s) for s in CASE_SECTIONS},
                "tags": [t for t, _ in self.tags], "product": self.product, "severity": self.severity,
                "source_tickets": [self.ticket_id], "status": "in_review"}

    @property
    def sourced_share(self) -> float:
        return sum(bool(s.sources) for s in self.sentences) / len(self.sentences) if self.sentences else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = [{"tag": t, "confidence": round(c, 3)} for t, c in self.tags]
        d.update({s: self.section(s) for s in CASE_SECTIONS})
        return d


def ticket_messages(ticket: dict[str, Any]) -> list[dict[str, str]]:
    msgs = ticket.get("messages") or []
    if not isinstance(msgs, list) or not msgs:
        raise InputError(f"ticket {ticket.get('id', '?')}: no messages to draft from")
    # internal notes are for the helpdesk's agents: nothing of them may reach a case's text
    return [{"id": str(m.get("id") or f"m{i}"), "role": str(m.get("role") or ""), "text": str(m.get("text") or "")}
            for i, m in enumerate(msgs, 1) if not m.get("internal")]


def severity(priority: Any) -> str:
    p = str(priority or "").upper()
    return p if p in SEVERITIES else "P3"


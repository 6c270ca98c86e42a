"""What an answer is: the verified answer with its citations, the interface of the engines that
compose one, and how its sentences are written out as text."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .context import ContextRecord
from .promises import Flag
from .sentences import Piece, Sentence
from .types import SearchHit

UNVERIFIED = "【未核实】"
NOTHING_NEW = "案例库中没有找到比之前的回答更多的内容。"


@dataclass
class Citation:
    id: str
    quote: str
    section: str
    verified: bool = True
    support: float = 1.0
    heading: str = ""  # where in an article the quote is ("安装指南 > 无线网络 > 5GHz")
    page: int | None = None  # the page of a PDF the quote is on


@dataclass
class Answer:
    question: str
    answer: str
    citations: list[Citation]
    abstained: bool
    related: list[SearchHit] = field(default_factory=list)
    context: list[SearchHit] = field(default_factory=list)
    support: float = 0.0
    unsupported: int = 0
    engine: str = ""
    prompt: str = ""
    fallback: str = ""  # why the configured engine was replaced by the extractive one, if it was
    id: str = ""
    retrieval_query: str = ""
    seconds: float = 0.0
    promises: list[Flag] = field(default_factory=list)  # sentences committing to what their source does not
    # a reviewer's curated answer served instead of a composed one: its id, version, reviewer, date
    # (assistant.curated.CuratedMatch.label)
    curated: dict[str, Any] | None = None

    def to_dict(self, *, context: bool = False) -> dict[str, Any]:
        """The DESIGN.md shape: ``answer``, ``citations`` [{id, quote}], ``abstained``, ``related``."""
        d: dict[str, Any] = {
            "id": self.id,
            "answer": self.answer,
            "citations": [{"id": c.id, "quote": c.quote, "section": c.section, "verified": c.verified,
                           **({"heading": c.heading} if c.heading else {}),
                           **({"page": c.page} if c.page else {})} for c in self.citations],
            "abstained": self.abstained,
            "related": [{"id": h.id, "title": h.title, "kind": h.kind, "score": h.score} for h in self.related],
            "support": round(self.support, 3),
            "unsupported": self.unsupported,
            "engine": self.engine,
            "promises": [f.to_dict() for f in self.promises],
        }
        if self.prompt:
            d["prompt"] = self.prompt
        if self.fallback:
            d["fallback"] = self.fallback
        if self.curated:
            d["curated"] = dict(self.curated)
        if context:
            d["context"] = [h.to_dict(explain=True) for h in self.context]
        return d


class AnswerEngine(Protocol):
    """Composes answer sentences, each naming the record it comes from, from retrieved records."""

    name: str

    def compose(self, question: str, context: Sequence[ContextRecord], *, ticket: str = "") -> list[Sentence]:
        """Sentences answering ``question`` from ``context`` (empty: the context does not answer it).
        ``ticket`` is the ticket's text, as data."""
        ...


class StreamingEngine(AnswerEngine, Protocol):
    """An engine that can hand its answer over as it composes it (``Assistant.ask_stream``)."""

    def compose_pieces(self, question: str, context: Sequence[ContextRecord], *, ticket: str = "",
                       exclude: Collection[str] = ()) -> Iterator[Piece]:
        """``compose``'s sentences in pieces, as they are produced; ``exclude``: sentences an
        earlier answer gave (an engine that quotes records does not quote them again)."""
        ...


def render_line(s: Sentence, steps: int) -> tuple[str, int]:
    """The line of the answer text that shows ``s`` after ``steps`` numbered steps, and the number of
    steps with it: the cause as 原因, a step numbered, the id of the record it comes from after it;
    an unverified sentence (``CASEPILOT_UNSUPPORTED=flag``) is marked."""
    cite = f" [{s.source_id}]" if s.source_id else ""
    text = f"{UNVERIFIED}{s.text}" if s.unverified else s.text
    if s.role == "cause":
        return f"原因：{text}{cite}", steps
    if s.role == "step":
        return f"{steps + 1}. {text}{cite}", steps + 1
    return f"{text}{cite}", steps


def render(sentences: Sequence[Sentence]) -> str:
    """The answer text: one line per sentence (``render_line``)."""
    lines: list[str] = []
    steps = 0
    for s in sentences:
        line, steps = render_line(s, steps)
        lines.append(line)
    return "\n".join(lines)

"""The retrieved records handed to an answer engine, and the text of them a model gets to read.

``ContextRecord`` pairs a search hit with its stored record. ``assemble`` cuts the records into
pieces (a case's sections, an article's paragraphs) and packs them under a token budget counted with
tiktoken: the best-ranked record first, the solution section before the others, at most a few pieces
per record, and every record's first piece before any record's second, so a long article cannot
crowd the next case out. ``render_blocks`` writes them as the delimited data the answer prompt reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .headings import PAGE_MARK
from .store import StoredRecord
from .tokens import count_tokens, encoding
from .types import SearchHit

# a case's sections (types.CASE_SECTIONS) in the order a model reads them, solution first; and the
# order ``ContextRecord.sections`` lists them in, for the engines that pick sentences
READING_ORDER = ("solution", "diagnosis", "problem", "outcome")
SENTENCE_ORDER = ("solution", "diagnosis", "outcome", "problem")
SECTION_NAMES = {"solution": "解决方案", "diagnosis": "诊断过程", "problem": "问题描述", "outcome": "结果与反馈",
                 "body": "正文", "answer": "答案"}


def record_sections(record: StoredRecord) -> list[tuple[str, str]]:
    """``(section, text)`` of a record, as the engines that pick sentences read it."""
    d = record.data
    if record.kind == "case":
        return [(s, d.get(s) or "") for s in SENTENCE_ORDER if d.get(s)]
    return [("answer" if d.get("faq") else "body", d.get("body") or "")]


@dataclass
class ContextRecord:
    """One retrieved record handed to an engine, with the text of its sections."""

    hit: SearchHit
    record: StoredRecord

    @property
    def sections(self) -> list[tuple[str, str]]:
        return record_sections(self.record)

    def pieces(self) -> list[tuple[str, str]]:
        """``(section, text)`` in the order a model should read them: a case's solution first; an
        article's paragraphs with the one retrieval matched best first."""
        d = self.record.data
        if self.record.kind == "case":
            return [(s, d[s]) for s in READING_ORDER if d.get(s)]
        section = "answer" if d.get("faq") else "body"
        body = "\n".join(ln for ln in (d.get("body") or "").splitlines() if not PAGE_MARK.match(ln))
        paras = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
        best = self.hit.snippet.rstrip("…").strip()[:30] if self.hit else ""
        first = [p for p in paras if best and best in p][:1]
        return [(section, p) for p in first + [p for p in paras if p not in first]]


@dataclass(frozen=True)
class Block:
    id: str
    title: str
    kind: str
    section: str
    text: str
    tokens: int


def _truncate(text: str, tokens: int) -> str:
    enc = encoding()
    ids = enc.encode_ordinary(text)
    return text if len(ids) <= tokens else enc.decode(ids[:tokens]) + "…"


def assemble(context: Sequence[ContextRecord], budget: int, per_record: int = 3) -> list[Block]:
    """Pieces of the records under ``budget`` tokens, grouped per record in retrieval order."""
    queue: list[list[tuple[str, str]]] = [c.pieces()[:per_record] for c in context]
    chosen: dict[int, list[Block]] = {}
    left = budget
    for round_ in range(per_record):
        for i, c in enumerate(context):
            if round_ >= len(queue[i]) or left <= 0:
                continue
            section, text = queue[i][round_]
            header = f"[{c.record.id}] {c.hit.title}（{SECTION_NAMES.get(section, section)}）\n"
            cost = count_tokens(header + text)
            if cost > left:
                room = left - count_tokens(header)
                if room < 40:  # a stub of a section helps nobody
                    continue
                text = _truncate(text, room)
                cost = left
            chosen.setdefault(i, []).append(Block(c.record.id, c.hit.title, c.record.kind, section, text, cost))
            left -= cost
    return [b for i in sorted(chosen) for b in chosen[i]]


def render_blocks(blocks: Sequence[Block]) -> str:
    """The blocks as the answer prompt's data: one headed entry per piece, the id in brackets."""
    return "\n\n".join(f"[{b.id}] {b.title}（{SECTION_NAMES.get(b.section, b.section)}）\n{b.text}" for b in blocks)

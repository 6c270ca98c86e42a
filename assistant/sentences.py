"""The sentence kit that answering and both answer engines share: an answer's sentence, the pattern
of instructions aimed at the assistant, the "not found" answer, and character-bigram overlap (how
much of a claim a source holds)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import normalise, short_text_cache

NOT_FOUND = "案例库中没有找到能回答这个问题的案例或文章。"
# instructions aimed at the assistant, found inside stored content or a question: content, never orders
INJECTION = re.compile(
    r"忽略(以上|之前|上述|前面)?(所有|全部)?(的)?(指令|指示|规则|提示)|ignore (all |any )?(previous|above|prior) "
    r"(instructions|prompts)|\[?system\]?\s*[:：]|管理员(调试)?模式|developer mode|system prompt",
    re.IGNORECASE,
)


@dataclass
class Sentence:
    """One sentence of an answer; ``role`` says how it is shown: ``cause``, ``step`` (numbered), ``point``."""

    text: str
    source_id: str | None
    section: str = ""
    quote: str = ""
    role: str = "point"
    unverified: bool = False  # kept under CASEPILOT_UNSUPPORTED=flag although no record supports it


def bigrams(text: str) -> frozenset[str]:
    """The character bigrams of ``text`` in its normalised form. Cached: the sentences of the records
    answers quote, and the records' texts they are verified against, are scored again on every
    question (a third of an answer's CPU time when not). Sentences (up to 200 characters) get 4,096
    entries, whole texts up to ``CACHED_CHARS`` 64; longer texts are not kept. A 5,000-character text's
    bigrams take about 400 KB, so the two caches stay under about 60 MB. They are shared by the
    process's tenants, as the texts' bigrams say nothing about who asked."""
    return (_sentence_bigrams if len(text) <= 200 else _text_bigrams)(text)


def _bigrams(text: str) -> frozenset[str]:
    s = re.sub(r"[^0-9a-z\u3400-\u9fff]", "", normalise(text).lower())
    return frozenset(s[i : i + 2] for i in range(len(s) - 1)) or (frozenset((s,)) if s else frozenset())


_sentence_bigrams = short_text_cache(4096, limit=200)(_bigrams)
_text_bigrams = short_text_cache(64)(_bigrams)


def overlap(a: str, b: str) -> float:
    """Share of ``a``'s character bigrams found in ``b`` (1.0: every bigram of the claim is in the source)."""
    ga = bigrams(a)
    return len(ga & bigrams(b)) / len(ga) if ga else 0.0


@dataclass
class Piece:
    """One step of an engine composing an answer: ``text``, its raw output since the last piece (what
    a stream shows as it is produced, unverified), and the ``sentences`` that step completed."""

    text: str
    sentences: list[Sentence]

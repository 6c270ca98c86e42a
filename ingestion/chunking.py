"""Structure-aware chunking.

A case becomes one chunk per section (problem, diagnosis, solution, outcome), each carrying the case
title, plus a question-like ``view`` (title + problem) so that an agent's question meets a question.
An article is split on Chinese and English sentence boundaries under a token budget (tiktoken);
an FAQ entry is its question (``view``) plus its answer. Every chunk goes to the keyword index; which
also go through the dense model is a setting (``dense_case_sections``, default the views only: the
embedder is the dominant ingestion cost), except article bodies, which have no view and are always
embedded.

Chunk ids are content-addressed (record id, section, ordinal and a hash of text and metadata), so a
changed record or changed metadata gives new ids and the old chunks are removed by id.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from assistant.text import normalise
from assistant.tokens import count_tokens
from assistant.types import CASE_SECTIONS, UNINDEXED_STATUSES, Article, Case, Chunk, Record

VIEW_CHARS = 300
# sentence ends first, then clauses, then anything
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]


@lru_cache(maxsize=8)
def _splitter(chunk_tokens: int) -> Any:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=max(0, chunk_tokens // 10),
        length_function=count_tokens,
        separators=SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )


def split_text(text: str, chunk_tokens: int) -> list[str]:
    """Split under ``chunk_tokens`` tokens on sentence boundaries (Chinese and English)."""
    text = text.strip()
    if not text:
        return []
    if count_tokens(text) <= chunk_tokens:
        return [text]
    return [p for p in _splitter(chunk_tokens).split_text(text) if p.strip()]


class _Meta(NamedTuple):
    status: str
    product: str
    tags: Sequence[str]


def _chunk(record_id: str, kind: str, section: str, ordinal: int, title: str, text: str, dense: bool,
           meta: _Meta, index_text: str | None = None) -> Chunk:
    status, product, tags = meta
    index_text = index_text if index_text is not None else normalise(f"{title}\n{text}")
    digest = hashlib.sha256(json.dumps(
        [kind, title, text, index_text, dense, status, product, list(tags)], ensure_ascii=False
    ).encode("utf-8")).hexdigest()[:12]
    return Chunk(
        id=f"{record_id}#{section}.{ordinal}#{digest}", record_id=record_id, kind=kind, section=section,
        ordinal=ordinal, title=title, text=text, index_text=index_text, dense=dense, status=status,
        product=product, tags=tuple(tags),
    )


def chunk_record(record: Record, *, dense_case_sections: Sequence[str] = ("view",),
                 article_chunk_tokens: int = 400) -> list[Chunk]:
    """The chunks a record should have in the indexes (none for tickets and archived records)."""
    if isinstance(record, Case):
        return _chunk_case(record, dense_case_sections, article_chunk_tokens)
    if isinstance(record, Article):
        return _chunk_article(record, dense_case_sections, article_chunk_tokens)
    return []


def _chunk_case(case: Case, dense_sections: Sequence[str], max_tokens: int) -> list[Chunk]:
    if case.status in UNINDEXED_STATUSES:
        return []
    common = _Meta(case.status, case.product, case.tags)
    view = case.problem[:VIEW_CHARS] if case.problem else (case.solution[:VIEW_CHARS] or "")
    out = [_chunk(case.id, "case", "view", 0, case.title, view, "view" in dense_sections, common)]
    for section in CASE_SECTIONS:
        text = getattr(case, section)
        for i, part in enumerate(split_text(text, max_tokens)):
            out.append(_chunk(case.id, "case", section, i, case.title, part, section in dense_sections, common))
    return out


def _chunk_article(article: Article, dense_sections: Sequence[str], max_tokens: int) -> list[Chunk]:
    if article.status in UNINDEXED_STATUSES:
        return []
    common = _Meta(article.status, article.product, article.tags)
    out = []
    if article.faq:  # the question is the view; the answer is dense only when asked for, like case sections
        out.append(_chunk(article.id, "article", "view", 0, article.title, article.title, "view" in dense_sections,
                          common, index_text=normalise(article.title)))
        section, dense = "answer", "answer" in dense_sections or "solution" in dense_sections
    else:  # an article has no question-like view: its body chunks are what the dense model sees
        section, dense = "body", True
    for i, part in enumerate(split_text(article.body, max_tokens)):
        out.append(_chunk(article.id, "article", section, i, article.title, part, dense, common))
    return out

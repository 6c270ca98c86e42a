"""The heading structure of a Markdown article: which text sits under which headings.

Chunking cuts an article at its headings and gives each chunk its heading path as context; the
answer engine quotes from the section that retrieval matched and citations name it.
"""

from __future__ import annotations

import re

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
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
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m and m.group(2).strip():
            flush()
            level = len(m.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, m.group(2).replace("**", "").strip()))
        else:
            lines.append(line)
    flush()
    return out


def article_sections(title: str, body: str) -> list[tuple[tuple[str, ...], str]]:
    """``heading_sections`` of an article, without a first heading that repeats the article's title
    ("# <title>" opens many Markdown articles): the paths chunks carry and citations name."""
    from .text import normalise

    head = normalise(title)
    return [(path[1:] if path and normalise(path[0]) == head else path, text)
            for path, text in heading_sections(body)]


def section_text(title: str, body: str, heading: str) -> str:
    """The text under the heading path ``heading`` (``PATH_SEP``-joined, as chunks carry it); "" when
    the article has no such section."""
    return "\n\n".join(text for path, text in article_sections(title, body) if PATH_SEP.join(path) == heading)

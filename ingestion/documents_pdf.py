"""A PDF's text layer as Markdown: headings from its outline (bookmarks), a page mark before each
page, running headers and footers dropped, lines joined back into paragraphs.

PDFium (``pypdfium2``) reads the text: about 175 pages a second here against 16 for pypdf and 5 for
pdfminer.six on the same manual (docs/documents.md). Tables are not rebuilt: a PDF has no table
structure, only positioned text, and their cells arrive as lines.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from assistant.headings import page_mark

from .documents_text import DocumentError, Markdown, clause_headings, escape_line, join_lines

# a line that only numbers the page: "12", "- 12 -", "12 / 57", "第 12 页", "Page 3 of 10"
_PAGE_NUMBER = re.compile(r"^(?:[-–—\s]*\d+[-–—\s]*|\d+\s*/\s*\d+|第\s*\d+\s*页.*|page\s+\d+(?:\s+of\s+\d+)?)$", re.I)
# the number a heading line starts with: "4.4.2", "第 4 章", "Chapter 4", "附录 A", "A.1"
_NUMBER = re.compile(r"^(?:第\s*[\d一二三四五六七八九十百]+\s*[章节節部篇]|(?:chapter|appendix|附录|附錄)\s*[\dA-Z]+"
                     r"|[A-Z](?:\.\d+)+|\d+(?:\.\d+)*\.?)\s*", re.I)
_LEADER = re.compile(r"(?:\s?[.·…]){4,}\s*[\dívxlc]+\s*$", re.I)
_LABEL = re.compile(r"^(?:chapter|appendix|part|第)\s*[\dA-Z一二三四五六七八九十百]+\s*[章部篇]?$", re.I)


def _compact(s: str) -> str:
    return re.sub(r"\s+", "", s).lower()


def _key(line: str) -> str:
    """A line with its numbers (page numbers, roman ones too) folded: "手册 12 / 57" and "手册 v" match."""
    return _compact(re.sub(r"\d+(?:\s*/\s*\d+)?|\b[ivxlcdm]+\b", "#", line.lower()))


def _running(pages: list[list[str]], edge: int = 2) -> set[str]:
    """Keys of the lines at the top or bottom of many pages: running headers and footers."""
    seen: Counter[str] = Counter()
    for lines in pages:
        seen.update({_key(x) for x in lines[:edge] + lines[-edge:]})
    floor = max(3, int(0.3 * len(pages)))
    return {k for k, n in seen.items() if n >= floor and k}


def _strip_edges(lines: list[str], running: set[str], edge: int = 2) -> list[str]:
    def boiler(i: int, x: str) -> bool:
        near = i < edge or i >= len(lines) - edge
        return near and (_key(x) in running or bool(_PAGE_NUMBER.match(x.strip())))

    # a table of contents' lines ("4.4 rules . . . . . 23") repeat the headings: no content
    return [x for i, x in enumerate(lines) if not boiler(i, x) and not _LEADER.search(x)]


def _mark_headings(lines: list[str], outline: list[tuple[int, str]]) -> dict[int, tuple[int, str, int]]:
    """``line index -> (level, heading text, last line it spans)`` for each outline entry of a page
    found among its lines (a heading's number on the page is kept: "4.4.2 默认的 rules 文件")."""
    found: dict[int, tuple[int, str, int]] = {}
    start = 0
    for level, title in outline:
        ct = _compact(title)
        for i in range(start, len(lines)):
            m = _NUMBER.match(lines[i].strip())
            number = m.group().strip() if m else ""
            rest = _compact(lines[i].strip()[m.end():] if m else lines[i])
            if not rest or not ct.startswith(rest) or len(rest) < min(len(ct), 4):
                continue
            j = i
            while len(rest) < len(ct) and j + 1 < len(lines) and ct.startswith(rest + _compact(lines[j + 1])):
                j += 1
                rest += _compact(lines[j])
            if not number and i > 0 and _LABEL.match(lines[i - 1].strip()):  # "Chapter 1" above "正确的起点"
                number, i = lines[i - 1].strip(), i - 1
            found[i] = (level, f"{number} {title}".strip(), j)
            start = j + 1
            break
    return found


def pdf_to_markdown(path: Path) -> Markdown:
    # lazy: pypdfium2 costs 10 ms at import and only PDFs need it
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise DocumentError("the PDF is encrypted with a password; decrypt it (e.g. `qpdf --decrypt "
                                "--password=... in.pdf out.pdf`) and import the result") from None
        raise DocumentError(f"not a readable PDF ({e}); is it truncated or corrupt?") from None
    try:
        return _read(doc)
    finally:
        doc.close()


def _read(doc: object) -> Markdown:
    # lazy: pypdfium2 costs 10 ms at import and only PDFs need it
    import pypdfium2 as pdfium

    assert isinstance(doc, pdfium.PdfDocument)
    pages: list[list[str]] = []
    for i in range(len(doc)):
        page = doc[i]
        try:
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            textpage.close()
        except pdfium.PdfiumError as e:
            raise DocumentError(f"cannot read the text of this page ({e})", f"page {i + 1}") from None
        finally:
            page.close()
        pages.append([x for x in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if x.strip()])
    if not any(pages):
        raise DocumentError(f"no text layer on any of its {len(doc)} pages: it looks like a scanned PDF; run "
                            "OCR outside casepilot (e.g. `ocrmypdf in.pdf out.pdf`) and import the result")
    outline: dict[int, list[tuple[int, str]]] = {}
    try:
        for b in doc.get_toc(max_depth=6):
            dest = b.get_dest()
            if dest is not None and (title := (b.get_title() or "").strip()):
                outline.setdefault(dest.get_index(), []).append((b.level + 1, title))
    except pdfium.PdfiumError:
        outline = {}  # a broken outline: the text stays, without headings from it
    meta = doc.get_metadata_dict(skip_empty=True)
    running = _running(pages) if len(pages) >= 3 else set()
    out: list[str] = []
    for n, raw in enumerate(pages):
        lines = _strip_edges(raw, running)
        heads = _mark_headings(lines, outline.get(n, []))
        out.append(page_mark(n + 1))
        para: list[str] = []
        i = 0
        while i < len(lines):
            if i in heads:
                out.append(join_lines(para))
                para = []
                level, text, i = heads[i]
                out.append("#" * min(level, 6) + " " + text)
            else:
                para.append(lines[i])
            i += 1
        out.append(join_lines(para))
        for level, title in outline.get(n, []):  # an outline entry not found on its page opens it
            if not any(h[1].endswith(title) for h in heads.values()):
                out.insert(out.index(page_mark(n + 1)) + 1, "#" * min(level, 6) + " " + title)
    body = "\n\n".join(x for x in out if x.strip())
    if not outline:
        body = clause_headings(body)
    title = str(meta.get("Title") or "").strip()
    if re.match(r"^(untitled|microsoft word - .*|.*\.(docx?|pdf|tex|dvi))$", title, re.I):
        title = ""  # a file name a converter put there, not a title
    return Markdown(title=title, body=body, pages=len(pages))


__all__ = ["escape_line", "pdf_to_markdown"]

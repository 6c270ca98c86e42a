"""What the document converters share: their result, their error, and plain-text helpers (lines
joined into paragraphs, clause numbers as headings, decoding)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .encodings import encoding_hint

CJK = r"\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_CJK_END = re.compile(f"[{CJK}]$")
_CJK_START = re.compile(f"^[{CJK}]")
# a line that starts a list item or a step: "•", "-", "1.", "1)", "(1)", "①", "第一步"
LIST_START = re.compile(r"^\s*(?:[•·▪◦‣●○■□*-]\s|\d{1,3}[.)、]\s?|[(（]\d{1,3}[)）]|[①-⑳]"
                        r"|第[一二三四五六七八九十\d]+步)")
_BULLET = re.compile(r"^\s*[•·▪◦‣●○■□]\s*")
# clause numbers that head a section of a plain-text document or a PDF without an outline:
# "第三章 保险责任" (level 1), "第二节 ..." (2), "第十條 告知義務" (3)
_CLAUSE = re.compile(r"^(第[\d一二三四五六七八九十百零〇]+\s*([章节節条條]))\s*(\S.{0,40})$")
_CLAUSE_LEVEL = {"章": 1, "节": 2, "節": 2, "条": 3, "條": 3}


class DocumentError(Exception):
    """A document that cannot be imported: why, and where in it (a page, a part of the file)."""

    def __init__(self, message: str, place: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.place = place


@dataclass
class Markdown:
    """A document turned into an article's body: Markdown with headings (and page marks for a PDF)."""

    title: str  # from the document's own metadata ("" when it has none)
    body: str
    pages: int = 1
    updated_at: str = ""


def escape_line(line: str) -> str:
    """A line of text that must not read as a Markdown heading ("# comment" in a listing)."""
    return "\\" + line if line.lstrip().startswith("#") else line


def join_lines(lines: list[str]) -> str:
    """Lines of a page (as a PDF lays them out) back into paragraphs: a line that runs (nearly) to the
    text's right edge continues on the next one, unless that one starts a list item; bullets become
    Markdown list items. Chinese is joined without a space, other text with one."""
    lines = [x.rstrip() for x in lines if x.strip()]
    if not lines:
        return ""
    widths = sorted(_width(x) for x in lines)
    full = widths[int(0.9 * (len(widths) - 1))]
    out: list[str] = []
    cur = ""
    for x in lines:
        x = escape_line(_BULLET.sub("- ", x, count=1))
        if cur and not LIST_START.match(x) and _width(cur.splitlines()[-1]) >= 0.8 * full and full >= 20:
            glue = "" if _CJK_END.search(cur) or _CJK_START.match(x.lstrip()) or cur.endswith("-") else " "
            cur = cur + glue + x.lstrip()
        else:
            if cur:
                out.append(cur)
            cur = x
        if re.search(r"[。！？]$", cur):  # a sentence end closes the paragraph however wide the line
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    # list items stay on their own lines (one block); other paragraphs are separated by a blank line
    # list items stay on their own lines (one block), and so do runs of short lines (a listing, a
    # column of names); other paragraphs are separated by a blank line
    text = ""
    for i, p in enumerate(out):
        short = _width(p) < 0.6 * full and i and _width(out[i - 1]) < 0.6 * full
        sep = "\n" if i and (short or (LIST_START.match(p) and LIST_START.match(out[i - 1]))) else "\n\n"
        text += (sep if i else "") + p
    return text


_CJK_CHAR = re.compile(f"[{CJK}]")


def _width(s: str) -> int:
    """Display width: a Chinese character is two columns."""
    return len(s) + len(_CJK_CHAR.findall(s))


def clause_headings(body: str) -> str:
    """Lines that are clause numbers with a short name ("第十條 告知義務") become Markdown headings."""
    out = []
    for line in body.splitlines():
        m = _CLAUSE.match(line.strip())
        out.append("#" * _CLAUSE_LEVEL[m.group(2)] + " " + line.strip() if m else line)
    return "\n".join(out)


def decode_text(raw: bytes, declared: str | None = None) -> str:
    """``raw`` as text: in the ``declared`` encoding (an HTML page's charset) when given, else UTF-8;
    a ``DocumentError`` that names the likely encoding and the fix otherwise."""
    if declared:
        try:
            return raw.decode(declared)
        except LookupError:
            pass  # an encoding Python does not know: try UTF-8
        except UnicodeDecodeError as e:
            raise DocumentError(f"not valid {declared} as the page declares (byte 0x{raw[e.start]:02x})",
                                f"offset {e.start}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DocumentError(f"not UTF-8 (byte 0x{raw[e.start]:02x}){encoding_hint(raw)}", f"offset {e.start}") from None

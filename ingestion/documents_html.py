"""HTML pages and Word documents as Markdown: the main content only, headings as ``#`` headings, lists
as list items, tables as Markdown rows, code as fenced blocks; navigation, scripts, styles, forms and
images (inline ``data:`` images included) dropped.

HTML is parsed by selectolax (lexbor): thousands of pages a second. trafilatura, made for finding a
page's main text, dropped every heading of the Debian manuals' DocBook pages, and headings are what
chunks need (docs/documents.md). A .docx goes through mammoth, which maps Word's heading styles,
lists and tables to HTML, and then through the same walker.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from .documents_text import CJK, DocumentError, Markdown, decode_text, escape_line

_DROP = {"script", "style", "noscript", "template", "svg", "math", "canvas", "iframe", "object", "embed", "form",
         "button", "input", "select", "textarea", "img", "picture", "video", "audio", "map", "nav", "aside",
         "head", "link", "meta", "-comment"}
_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "toolbar"}
_BOILER = re.compile(r"(?:^|[\s_-])(?:nav\w*|breadcrumbs?|sidebar|menu|footer|header|toc|cookies?|skip|pager|"
                     r"pagination|share|social|related|advert\w*|ads?|banner|copyright|feedback)(?:$|[\s_-])", re.I)
_MAIN = ("main", "[role=main]", "article", "#content", "#main", "#main-content", ".main-content", "div.body",
         ".article-body", ".content")
_BLOCKS = {"p", "div", "section", "article", "main", "body", "html", "blockquote", "figure", "figcaption", "center",
           "dl", "dt", "dd", "address", "details", "summary", "hr", "header", "footer"}
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_WRAP = re.compile(f"(?<=[{CJK}])\\s*\\n\\s*(?=[{CJK}])")


def _inline(text: str) -> str:
    """Source line breaks between Chinese characters are no spaces; other whitespace runs are one."""
    return re.sub(r"\s+", " ", _WRAP.sub("", text))


class _Walker:
    def __init__(self, strip_boilerplate: bool) -> None:
        self.strip = strip_boilerplate
        self.out: list[str] = []
        self.buf: list[str] = []

    def flush(self) -> None:
        text = _inline("".join(self.buf)).strip()
        if text:
            self.out.append("\n".join(escape_line(x.strip()) for x in text.split("\x00") if x.strip()))
        self.buf = []

    def skip(self, node: Any) -> bool:
        tag = node.tag
        if tag in _DROP:
            return True
        if not self.strip or tag in ("-text", "body", "html"):
            return False
        attrs = node.attributes
        boiler = (tag in ("header", "footer") or (attrs.get("role") or "") in _ROLES
                  or bool(_BOILER.search(f"{attrs.get('class') or ''} {attrs.get('id') or ''}")))
        return boiler and node.css_first("h1, h2, h3, h4, h5, h6") is None  # an article's own header stays

    def text_of(self, node: Any) -> str:
        parts: list[str] = []
        for child in node.iter(include_text=True):
            if child.tag == "-text":
                parts.append(child.text(deep=False))
            elif child.tag == "br":
                parts.append("\x00")
            elif not self.skip(child) and child.tag not in ("ul", "ol", "table"):
                parts.append(self.text_of(child))
        return "".join(parts)

    def walk(self, node: Any) -> None:
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                self.buf.append(child.text(deep=False))
            elif tag == "br":
                self.buf.append("\x00")
            elif self.skip(child):
                continue
            elif re.fullmatch(r"h[1-6]", tag):
                self.flush()
                text = _inline(self.text_of(child)).strip()
                if text:
                    self.out.append("#" * int(tag[1]) + " " + text)
            elif tag in ("ul", "ol"):
                self.flush()
                self.out.append("\n".join(self.items(child, 0)))
            elif tag == "table":
                self.flush()
                self.out.append(self.table(child))
            elif tag == "pre":
                self.flush()
                code = (child.text(deep=True) or "").strip("\n")
                if code.strip():
                    self.out.append(f"```\n{code}\n```")
            elif tag in _BLOCKS or tag == "li":
                self.flush()
                self.walk(child)
                self.flush()
            else:
                self.walk(child)  # inline: its text joins the paragraph

    def items(self, node: Any, depth: int) -> list[str]:
        lines: list[str] = []
        n = 0
        for li in node.iter(include_text=False):
            if li.tag != "li":
                continue
            n += 1
            mark = f"{n}." if node.tag == "ol" else "-"
            text = _inline(self.text_of(li)).replace("\x00", " ").strip()
            if text:
                lines.append("   " * depth + f"{mark} {text}")
            for sub in li.iter(include_text=False):
                if sub.tag in ("ul", "ol"):
                    lines.extend(self.items(sub, depth + 1))
        return [x for x in lines if x.strip()]

    def table(self, node: Any) -> str:
        rows = []
        for tr in node.css("tr"):
            cells = [_inline(self.text_of(c)).replace("\x00", " ").replace("|", "\\|").strip()
                     for c in tr.iter(include_text=False) if c.tag in ("td", "th")]
            if any(cells):
                rows.append(cells)
        if not rows:
            return ""
        width = max(len(r) for r in rows)
        if width == 1:  # a one-column table is a layout box, not data
            return "\n\n".join(r[0] for r in rows if r[0])
        rows = [r + [""] * (width - len(r)) for r in rows]
        lines = ["| " + " | ".join(r) + " |" for r in rows]
        lines.insert(1, "|" + " --- |" * width)
        return "\n".join(lines)


def _main(tree: Any) -> Any:
    for selector in _MAIN:
        found = tree.css(selector)
        if len(found) == 1 and len(found[0].text(deep=True).strip()) > 200:
            return found[0]
    return tree.body or tree.root


def html_to_markdown(raw: bytes, *, strip_boilerplate: bool = True) -> Markdown:
    m = _CHARSET.search(raw[:4096])
    text = decode_text(raw, m.group(1).decode("ascii", "replace") if m else None)
    tree = LexborHTMLParser(text)
    title_node = tree.css_first("title")
    meta_title = _inline(title_node.text(deep=True)).strip() if title_node is not None else ""
    walker = _Walker(strip_boilerplate)
    root = _main(tree) if strip_boilerplate else (tree.body or tree.root)
    if root is None:
        return Markdown(title=meta_title, body="")
    walker.walk(root)
    walker.flush()
    body = "\n\n".join(x for x in walker.out if x.strip())
    return Markdown(title=meta_title, body=body)


# Word's heading styles by the names English and Chinese Word and WPS give them
_STYLE_MAP = "\n".join(f"p[style-name='{name} {n}'] => h{n}:fresh"
                       for n in range(1, 7) for name in ("heading", "Heading", "标题", "標題"))


def check_zip(raw: bytes, max_unzipped: int, what: str = "a .docx file") -> zipfile.ZipFile:
    """The archive, once its declared sizes are under ``max_unzipped`` (zipfile never reads past a
    member's declared size, so a lie is cut short, not unpacked)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as e:
        raise DocumentError(f"not {what} that can be opened ({e}): is it truncated or corrupt?") from None
    infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    if total > max_unzipped:
        biggest = max(infos, key=lambda i: i.file_size)
        raise DocumentError(f"unpacks to {total:,} bytes ({biggest.filename}: {biggest.file_size:,} from "
                            f"{biggest.compress_size:,}); the limit is {max_unzipped:,} "
                            "(CASEPILOT_MAX_DOCUMENT_UNZIPPED_BYTES): a ZIP bomb?", biggest.filename)
    return zf


def docx_to_markdown(raw: bytes, max_unzipped: int) -> Markdown:
    # lazy: mammoth costs 20 ms at import and only .docx files need it
    import mammoth

    zf = check_zip(raw, max_unzipped)
    if "word/document.xml" not in zf.namelist():
        raise DocumentError("not a Word document: the archive has no word/document.xml")
    try:
        bad = zf.testzip()  # reads every member once (bounded above) and checks its CRC
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise DocumentError(f"the archive is corrupt ({e}): is it truncated?") from None
    if bad is not None:
        raise DocumentError("a part of the archive is corrupt (its checksum does not match)", bad)
    try:
        result = mammoth.convert_to_html(io.BytesIO(raw), style_map=_STYLE_MAP)
    except Exception as e:  # mammoth raises whatever its XML and ZIP readers raise
        raise DocumentError(f"cannot read the Word document ({type(e).__name__}: {e})", "word/document.xml") from None
    md = html_to_markdown(f"<html><body>{result.value}</body></html>".encode(), strip_boilerplate=False)
    md.title, md.updated_at = _core_properties(zf)
    return md


def _core_properties(zf: zipfile.ZipFile) -> tuple[str, str]:
    """The title and last-modified time from docProps/core.xml ("" when absent)."""
    try:
        root = ET.fromstring(zf.read("docProps/core.xml"))
    except (KeyError, ET.ParseError):
        return "", ""
    ns = {"dc": "http://purl.org/dc/elements/1.1/", "dcterms": "http://purl.org/dc/terms/"}
    title = (root.findtext("dc:title", "", ns) or "").strip()
    return title, (root.findtext("dcterms:modified", "", ns) or "").strip()

"""Documents as knowledge articles: HTML pages (one help-centre page, or an exported site folder),
Word ``.docx``, PDFs with a text layer, and plain ``.txt``.

Each becomes an article whose body is Markdown with the document's headings, so that chunking cuts
it at them and every chunk carries its heading path, as for Markdown articles (a PDF's body also
holds a page mark before each page, so a citation can name its page). Title, id and product come
from the document (its metadata, else its first heading), else the file name; ``--product`` gives
a product to every document of an import; a sidecar ``FILE.meta.yaml`` (the keys of a Markdown
file's front matter: id, title, product, tags, status, updated_at) overrides both for its file.

What cannot be read is a ``Reject`` naming the file, the place (a page, a part of the archive) and
the reason, and the rest of the import goes on: files over ``max_bytes``, encrypted or scanned
PDFs, corrupt or truncated archives, ZIP bombs, text that is not UTF-8 and says no other encoding.
Paragraphs that repeat on most pages of one folder of HTML (a site's footer) are dropped.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from assistant.headings import PAGE_MARK, heading_of
from assistant.records import RecordError, parse_record, unknown_fields

from .documents_html import docx_to_markdown, html_to_markdown
from .documents_pdf import pdf_to_markdown
from .documents_text import DocumentError, Markdown, clause_headings, decode_text, escape_line
from .items import Loaded, Reject

DOCUMENT_SUFFIXES = (".html", ".htm", ".docx", ".pdf", ".txt")
SIDECAR = ".meta.yaml"
# a body longer than this is stored as several articles (ID~1, ID~2, ...) cut at its top headings
# (records hold at most 200,000 characters a field; a quoted record is read whole on every answer)
PART_CHARS = 120_000


@dataclass(frozen=True)
class DocumentOptions:
    max_bytes: int = 200_000_000
    max_unzipped_bytes: int = 500_000_000
    product: str = ""  # given to every document (``ingest --product``); a sidecar's wins


def is_sidecar(path: Path) -> bool:
    return path.name.lower().endswith(SIDECAR)


def convert(path: Path, options: DocumentOptions) -> Markdown:
    """The document at ``path`` as Markdown, or a ``DocumentError``."""
    size = path.stat().st_size
    if size > options.max_bytes:
        raise DocumentError(f"the file is {size:,} bytes; the limit is {options.max_bytes:,} "
                            "(CASEPILOT_MAX_DOCUMENT_BYTES)")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return pdf_to_markdown(path)
    raw = path.read_bytes()
    if suffix == ".docx":
        return docx_to_markdown(raw, options.max_unzipped_bytes)
    if suffix in (".html", ".htm"):
        return html_to_markdown(raw)
    text = decode_text(raw).replace("\r\n", "\n")
    return Markdown(title="", body=clause_headings("\n".join(escape_line(x) for x in text.split("\n"))))


def load_documents(paths: Sequence[Path], kind: str | None = None, options: DocumentOptions | None = None,
                   roots: Sequence[Path] = ()) -> Iterator[Loaded | Reject]:
    """A ``Loaded`` article (or several, for a very long document) or a ``Reject`` for each file.
    ``roots`` are the folders the files were found in: a file's id is its path below its folder."""
    options = options or DocumentOptions()
    done: list[tuple[Path, Markdown]] = []
    for path in paths:
        if kind not in (None, "article"):
            yield Reject(str(path), None, None, f"a {path.suffix.lower()} document is imported as an article, "
                                                f"not a {kind}")
            continue
        try:
            done.append((path, convert(path, options)))
        except DocumentError as e:
            yield Reject(str(path), None, e.place, e.message)
        except (OSError, MemoryError, RecursionError) as e:
            yield Reject(str(path), None, None, f"cannot read it ({type(e).__name__}: {e})")
    drop_repeated_blocks([md for p, md in done if p.suffix.lower() in (".html", ".htm")])
    for path, md in done:
        yield from _articles(path, md, options, roots)


def _blocks(body: str) -> list[str]:
    return [b for b in re.split(r"\n\s*\n", body) if b.strip()]


def drop_repeated_blocks(pages: list[Markdown], share: float = 0.5, least: int = 4) -> None:
    """Paragraphs (not headings) found on more than ``share`` of the pages, when there are at least
    ``least``: a site's footer, a notice on every page. Counted once per page."""
    if len(pages) < least:
        return
    seen: Counter[str] = Counter()
    for md in pages:
        seen.update({_key(b) for b in _blocks(md.body) if not heading_of(b)})
    common = {k for k, n in seen.items() if n > share * len(pages)}
    if common:
        for md in pages:
            md.body = "\n\n".join(b for b in _blocks(md.body) if heading_of(b) or _key(b) not in common)


def _key(block: str) -> str:
    return hashlib.sha1(re.sub(r"\s+", "", block).encode("utf-8")).hexdigest()


def _sidecar(path: Path) -> dict[str, Any]:
    side = path.with_name(path.name + SIDECAR)
    if not side.exists():
        return {}
    try:
        data = yaml.safe_load(decode_text(side.read_bytes())) or {}
    except yaml.YAMLError as e:
        raise RecordError("sidecar", f"{side.name}: invalid YAML: {str(e).splitlines()[0]}") from None
    except DocumentError as e:
        raise RecordError("sidecar", f"{side.name}: {e.message}") from None
    if not isinstance(data, dict):
        raise RecordError("sidecar", f"{side.name} must be a YAML mapping")
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}


def default_id(path: Path, roots: Sequence[Path]) -> str:
    """The file's path below the folder it was found in, without its suffix, '/' as '-'
    (``help/wifi/index.html`` → ``wifi-index``); a file given by itself: its name without suffix."""
    for root in roots:
        try:
            rel = path.relative_to(root)
        except ValueError:
            continue
        return "-".join((*rel.parts[:-1], rel.stem)).replace(" ", "_")
    return path.stem.replace(" ", "_")


def first_heading(body: str) -> str:
    for line in body.splitlines():
        if found := heading_of(line):
            return found[1]
    return ""


def _articles(path: Path, md: Markdown, options: DocumentOptions, roots: Sequence[Path]) -> Iterator[Loaded | Reject]:
    file = str(path)
    if not any(x.strip() and not PAGE_MARK.match(x) for x in md.body.splitlines()):
        yield Reject(file, None, None, "no text found in it (only navigation, scripts or images?)")
        return
    try:
        meta: dict[str, Any] = {"id": default_id(path, roots), "title": md.title or first_heading(md.body) or path.stem,
                                "kind": "article"}
        if options.product:
            meta["product"] = options.product
        if md.updated_at:
            meta["updated_at"] = md.updated_at
        meta.update(_sidecar(path))
        parts = split_parts(md.body)
        for n, body in enumerate(parts, 1):
            d = {**meta, "body": body}
            if len(parts) > 1:
                d["id"] = f"{meta['id']}~{n}"
            rec = parse_record(d, "article")
            yield Loaded(rec, file, 1, unknown_fields(d, rec))
    except RecordError as e:
        yield Reject(file, None, e.field, e.message)


def split_parts(body: str, limit: int = PART_CHARS) -> list[str]:
    """``body`` whole when under ``limit`` characters; else cut before its outermost headings (the
    next level down where a stretch is still too long), in runs under ``limit``. A page mark is
    carried into the part that continues its page."""
    if len(body) <= limit:
        return [body]
    lines = body.split("\n")
    for level in range(1, 7):
        starts = [_back(lines, i) for i, x in enumerate(lines) if (h := heading_of(x)) and h[0] <= level]
        pieces = ["\n".join(lines[a:b]) for a, b in zip([0, *starts], [*starts, len(lines)], strict=True)]
        pieces = [p.strip("\n") for p in pieces if p.strip()]
        if all(len(p) <= limit for p in pieces):
            break
    parts: list[str] = []
    page = ""  # the last page mark before the part being filled
    stack: list[tuple[int, str]] = []  # the headings above it
    for p in pieces:
        for q in ([p] if len(p) <= limit else _cut(p, limit)):
            if parts and len(parts[-1]) + len(q) + 2 <= limit:
                parts[-1] += "\n\n" + q
            else:  # a new part opens on its page, under the headings above it (for its heading paths)
                first = next((h for x in q.split("\n") if (h := heading_of(x))), None)
                above = [f"{'#' * lv} {t}" for lv, t in stack if first is None or lv < first[0]]
                head, _, rest = q.partition("\n")
                opens, body = ([head], rest.strip("\n")) if PAGE_MARK.match(head) else ([page] if page else [], q)
                parts.append("\n\n".join([*opens, *above, body]))
            for x in q.split("\n"):
                if PAGE_MARK.match(x):
                    page = x
                elif h := heading_of(x):
                    stack = [*(e for e in stack if e[0] < h[0]), h]
    return parts


def _back(lines: list[str], i: int) -> int:
    """A heading's line, or the page mark (and blank lines) just above it: the page it opens."""
    j = i
    while j > 0 and (not lines[j - 1].strip() or PAGE_MARK.match(lines[j - 1])):
        j -= 1
    return j if any(PAGE_MARK.match(x) for x in lines[j:i]) else i


def _cut(text: str, limit: int) -> list[str]:
    """A stretch without headings, cut at blank lines under ``limit``."""
    out: list[str] = [""]
    for block in re.split(r"(?<=\n\n)", text):
        if out[-1] and len(out[-1]) + len(block) > limit:
            out.append("")
        out[-1] += block[:limit]
    return [x for x in out if x.strip()]

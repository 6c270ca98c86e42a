"""File loaders for the import formats of DESIGN.md: JSON Lines (cases, articles, tickets), FAQ CSV,
Markdown with YAML front matter, and the taxonomy YAML.

A loader never stops at the first bad record: it yields a ``Loaded`` for every good record and a
``Reject`` (file, line, field, message) for every bad one.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import yaml

from assistant.records import RecordError, closest, parse_record, unknown_fields
from assistant.taxonomy import TaxonomyError, parse_taxonomy

from .documents import DocumentOptions, load_documents
from .encodings import not_utf8
from .helpdesk import load as load_helpdesk
from .items import JSONL_SUFFIXES, Item, Known, Loaded, Reject, TaxonomyFile

DOCUMENT_SUFFIXES = (".html", ".htm", ".docx", ".pdf", ".txt")  # ingestion/documents.py
SUFFIXES = (*JSONL_SUFFIXES, ".csv", ".md", ".markdown", ".yaml", ".yml", *DOCUMENT_SUFFIXES)
MAX_LINE_BYTES = 5_000_000
FAQ_COLUMNS = ("id", "question", "answer")




def _decode(raw: bytes, file: str, line: int | None = None) -> str | Reject:
    try:
        return raw.decode("utf-8-sig" if line in (None, 1) else "utf-8")
    except UnicodeDecodeError as e:
        return Reject(file, line, None, not_utf8(raw, e))


# what a line's digest maps to in ``load_jsonl``'s ``known``: the record id and its tags
KnownLines = Mapping[str, tuple[str, tuple[str, ...]]]
_BOM = b"\xef\xbb\xbf"


def line_digest(raw: bytes, n: int, kind: str | None) -> str:
    """What tells a JSON Lines line apart for the import memo: its bytes without the line end (and
    without a first line's byte-order mark, which that line alone may carry), and the ``--kind`` given."""
    if n == 1 and raw.startswith(_BOM):
        raw = raw[3:]
    h = hashlib.blake2b(raw.rstrip(b"\r\n"), digest_size=16, person=(kind or "").encode()[:16])
    return h.hexdigest()


def parse_line(raw: bytes, file: str, n: int, kind: str | None, digest: str = "") -> Item | None:
    """Line ``n`` of a JSON Lines file: its record, why it was rejected, or None when it is blank."""
    if len(raw) > MAX_LINE_BYTES:
        return Reject(file, n, None, f"line is {len(raw)} bytes; the limit is {MAX_LINE_BYTES}")
    text = _decode(raw, file, n)
    if isinstance(text, Reject):
        return text
    if not text.strip():
        return None
    try:
        # without its line end, a cut-off line is an unterminated string, not a control character
        obj = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as e:
        where = f" column {e.colno}" if e.msg.endswith(" at") else f" (column {e.colno})"  # "starting at"
        return Reject(file, n, None, f"invalid JSON: {e.msg}{where}")
    try:
        notes: list[str] = []
        rec = parse_record(obj, kind, notes)
        return Loaded(rec, file, n, unknown_fields(obj, rec), tuple(notes), digest)
    except RecordError as e:
        return Reject(file, n, e.field, e.message)


def load_jsonl(path: Path, kind: str | None = None, known: KnownLines | None = None) -> Iterator[Item]:
    """With ``known`` (line digest → record id and tags, from an earlier import): each record carries
    its line's digest, and a line found in ``known`` is yielded as ``Known``, not parsed."""
    file = str(path)
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            digest = ""
            if known is not None and len(raw) <= MAX_LINE_BYTES:
                digest = line_digest(raw, n, kind)
                hit = known.get(digest)
                if hit is not None:
                    yield Known(hit[0], hit[1], file, n, digest, raw, kind)
                    continue
            item = parse_line(raw, file, n, kind, digest)
            if item is not None:
                yield item


def load_faq_csv(path: Path) -> Iterator[Item]:
    file = str(path)
    text = _decode(path.read_bytes(), file)
    if isinstance(text, Reject):
        yield text
        return
    lines = _Lines(io.StringIO(text, newline="").readlines())  # as the csv module splits them
    # strict: a quote left open would otherwise swallow every later row into one field, silently
    rows = csv.reader(lines, strict=True)
    try:
        header = [h.strip() for h in next(rows, [])]
    except csv.Error as e:
        yield Reject(file, 1, None, f"cannot read the header: {e}")
        return
    missing = [c for c in FAQ_COLUMNS if c not in header]
    if missing:
        meant = {h: c for h in header if h not in FAQ_COLUMNS and (c := closest(h, [*missing, "tags"]))}
        hints = "".join(f"; is {h!r} meant to be {c!r}?" for h, c in meant.items())
        yield Reject(file, 1, None, f"FAQ CSV needs columns id,question,answer[,tags]; missing: {', '.join(missing)}"
                     f"{hints}")
        return
    unused = [h for h in header if h not in (*FAQ_COLUMNS, "tags")]  # reported (a misspelt "tag"), not stored
    while True:
        start = lines.pos + 1  # the file's line number of the row read next
        try:
            row = next(rows)
        except StopIteration:
            return
        except csv.Error as e:  # report the row; read on after it with a fresh reader
            if "end of data" in str(e):  # an open quote ran to the end of the file: only its line is known bad
                lines.pos = start
                problem = "a quote opened on this line is never closed"
            elif "expected after" in str(e):
                problem = f"malformed quoting ({e}): a field in quotes must end at a comma or the line's end"
            else:
                problem = f"cannot read this row ({e})"
            skipped = f"line {start}" if lines.pos <= start else f"lines {start}–{lines.pos}"
            yield Reject(file, start, None, f"{problem}; {skipped} skipped, the lines after read")
            rows = csv.reader(lines, strict=True)
            continue
        if row:  # a blank line is no row
            yield _faq_row(row, header, unused, file, start)


class _Lines:
    """The lines of a file, handed to ``csv.reader`` one at a time; ``pos`` is how many were handed
    out, so a row's first line is known, and reading can go on after a malformed row."""

    def __init__(self, lines: list[str]) -> None:
        self.lines, self.pos = lines, 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _faq_row(fields: list[str], header: list[str], unused: list[str], file: str, start: int) -> Item:
    if len(fields) > len(header):
        return Reject(file, start, None, f"row has {len(fields)} fields; the header has {len(header)}")
    row = dict(zip(header, fields, strict=False))  # a short row lacks its last columns
    rec = {"kind": "article", "faq": True, "id": row.get("id"), "title": row.get("question"),
           "body": row.get("answer"), "tags": row.get("tags") or []}
    try:
        notes: list[str] = []
        return Loaded(parse_record(rec, "article", notes), file, start, tuple(h for h in unused if row.get(h)),
                      tuple(n.replace("title:", "question:") for n in notes))
    except RecordError as e:
        field = {"title": "question", "body": "answer"}.get(e.field, e.field)
        return Reject(file, start, field, e.message)


def split_front_matter(text: str) -> tuple[str, str]:
    """``(yaml, body)``; yaml is empty when the file has no front matter."""
    if not text.startswith("---"):
        return "", text
    lines = text.splitlines(keepends=True)
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise ValueError("front matter starts with '---' but never ends")


def load_markdown(path: Path, kind: str | None = None) -> Iterator[Item]:
    file = str(path)
    text = _decode(path.read_bytes(), file)
    if isinstance(text, Reject):
        yield text
        return
    try:
        head, body = split_front_matter(text)
        meta = yaml.safe_load(head) if head.strip() else {}
    except (ValueError, yaml.YAMLError) as e:
        if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
            # where YAML found the fault, as a line of the file: the front matter starts on line 2
            mark, start = e.problem_mark, e.context_mark
            line = mark.line + 2
            where = f", {e.context} that starts on line {start.line + 2}" if start is not None and e.context else ""
            yield Reject(file, line, "front matter", f"{e.problem} (line {line}, column {mark.column + 1}){where}")
        else:
            yield Reject(file, 1, "front matter", str(e).splitlines()[0])
        return
    if not isinstance(meta, dict):
        yield Reject(file, 1, "front matter", "must be a YAML mapping")
        return
    meta = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in meta.items()}
    meta.setdefault("id", path.stem)
    if "title" not in meta:
        first = next((ln for ln in body.splitlines() if ln.startswith("# ")), "")
        meta["title"] = first[2:].strip()
    meta.setdefault("kind", kind or "article")
    if meta["kind"] == "article":
        meta["body"] = body.strip()
    try:
        notes: list[str] = []
        rec = parse_record(meta, kind, notes)
        yield Loaded(rec, file, 1, unknown_fields(meta, rec), tuple(notes))
    except RecordError as e:
        yield Reject(file, 1, e.field, e.message)


def load_taxonomy_file(path: Path) -> Iterator[Item]:
    file = str(path)
    text = _decode(path.read_bytes(), file)
    if isinstance(text, Reject):
        yield text
        return
    try:
        data = yaml.safe_load(text)
        parse_taxonomy(data)
    except yaml.YAMLError as e:
        yield Reject(file, getattr(getattr(e, "problem_mark", None), "line", -1) + 1 or None, None,
                     f"invalid YAML: {str(e).splitlines()[0]}")
        return
    except TaxonomyError as e:
        yield Reject(file, None, e.field, str(e.message))
        return
    yield TaxonomyFile(path, data, text)


def expand(paths: Iterable[str | Path]) -> Iterator[Path | Reject]:
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in SUFFIXES and not f.name.startswith(".") and not (
                        f.name.lower().endswith(".meta.yaml") and f.with_name(f.name[:-10]).is_file()):
                    yield f  # a document's sidecar (FILE.meta.yaml) is read with the document
        elif p.is_file():
            yield p
        else:
            yield Reject(str(p), None, None, "no such file or folder")


def load_paths(paths: Iterable[str | Path], kind: str | None = None, fmt: str | None = None,
               documents: DocumentOptions | None = None, known: KnownLines | None = None) -> Iterator[Item]:
    """Every record, reject and taxonomy in ``paths`` (folders are walked). ``kind`` is a record kind,
    or ``faq`` (CSV or article records) or ``taxonomy``; ``fmt`` a helpdesk format (``ingestion.helpdesk``),
    else a helpdesk export is told by its content. ``documents``: the ``DocumentOptions`` for PDF, HTML,
    .docx and .txt files (read last, together: a folder's pages share their boilerplate). ``known``:
    JSON Lines lines read before (``load_jsonl``)."""
    given = [Path(p) for p in paths]
    record_kind = {"faq": "article", "taxonomy": None}.get(kind or "", kind)
    docs: list[Path] = []
    for p in expand(given):
        if isinstance(p, Reject):
            yield p
            continue
        suffix = p.suffix.lower()
        helpdesk = load_helpdesk(p, fmt, kind) if kind not in ("taxonomy", "faq") else None
        if helpdesk is not None:
            yield from helpdesk
            continue
        if kind == "taxonomy" or (suffix in (".yaml", ".yml") and p.stem.lower() == "taxonomy"):
            yield from load_taxonomy_file(p)
        elif kind == "faq" or suffix == ".csv":
            if kind not in (None, "faq", "article"):
                yield Reject(str(p), None, None, f"a CSV file holds FAQs, not {kind}s")
                continue
            yield from load_faq_csv(p)
        elif suffix in (".md", ".markdown"):
            yield from load_markdown(p, record_kind)
        elif suffix in JSONL_SUFFIXES:
            yield from load_jsonl(p, record_kind, known)
        elif suffix in DOCUMENT_SUFFIXES:
            docs.append(p)
        elif suffix in (".yaml", ".yml"):
            yield Reject(str(p), None, None, "YAML files are read as a taxonomy only when named taxonomy.yaml "
                         "or given with --kind taxonomy")
        else:
            yield Reject(str(p), None, None, f"unknown file type {suffix or '(none)'}; expected one of "
                         f"{', '.join(SUFFIXES)}")
    if docs:
        yield from load_documents(docs, record_kind, documents, roots=[p for p in given if p.is_dir()])

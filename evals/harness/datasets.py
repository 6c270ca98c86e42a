"""Evaluation sets as JSON Lines files, validated row by row.

Three kinds, told apart by their fields:

``answer`` (also a retrieval set)
    ``question`` (str), ``relevant_ids`` (list of record ids, empty when unanswerable), optional
    ``id``, ``reference_answer`` (str), ``unanswerable`` (bool), ``conversation`` (earlier turns
    ``[{"role": "user"|"assistant", "text"}]``), ``filters`` (``{"kind": "case", ...}`` as
    ``casepilot search --filter``), ``category`` (str), ``must_not_contain`` (list of texts the answer
    must not hold, e.g. what an injected instruction asks for).
``tag``
    ``text`` (str), ``tags`` (list of ``dimension/value``), optional ``id``, ``category``.
``draft``
    ``ticket`` (a ticket object with ``id`` and ``messages``), optional ``reference`` (a case with
    ``title``, ``problem``, ``diagnosis``, ``solution``, ``outcome``), ``id``, ``category``.

A malformed row raises ``DatasetError`` naming ``file:line: field: problem``; all problems of a file
are collected, so one run shows every bad row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import InputError
from assistant.index.filters import FILTER_KEYS
from assistant.types import CASE_SECTIONS

KINDS = ("answer", "tag", "draft")


class DatasetError(InputError):
    """One or more rows of a dataset file are malformed; ``problems`` holds ``file:line: field: ...``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
        super().__init__("invalid dataset:\n  " + "\n  ".join(shown))


@dataclass
class AnswerItem:
    id: str
    question: str
    relevant_ids: list[str]
    unanswerable: bool = False
    reference_answer: str = ""
    conversation: list[dict[str, str]] = field(default_factory=list)
    filters: dict[str, str] = field(default_factory=dict)
    category: str = ""
    must_not_contain: list[str] = field(default_factory=list)


@dataclass
class TagItem:
    id: str
    text: str
    tags: list[str]
    category: str = ""


@dataclass
class DraftItem:
    id: str
    ticket: dict[str, Any]
    reference: dict[str, str] | None = None
    category: str = ""


Item = AnswerItem | TagItem | DraftItem


@dataclass
class Dataset:
    path: Path
    kind: str
    items: list[Any]
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def kind_of(row: dict[str, Any]) -> str:
    if "question" in row:
        return "answer"
    if "ticket" in row:
        return "draft"
    if "text" in row or "tags" in row:
        return "tag"
    return ""


class _Row:
    """Field checks for one row; problems are collected as ``file:line: field: message``."""

    def __init__(self, where: str, row: dict[str, Any], problems: list[str]) -> None:
        self.where, self.row, self.problems = where, row, problems

    def bad(self, name: str, msg: str) -> None:
        self.problems.append(f"{self.where}: {name}: {msg}")

    def text(self, name: str, required: bool = False) -> str:
        v = self.row.get(name)
        if v is None:
            if required:
                self.bad(name, "missing")
            return ""
        if not isinstance(v, str):
            self.bad(name, f"expected a string, got {type(v).__name__}")
            return ""
        if required and not v.strip():
            self.bad(name, "empty")
        return v

    def str_list(self, name: str, required: bool = False) -> list[str]:
        v = self.row.get(name)
        if v is None:
            if required:
                self.bad(name, "missing")
            return []
        if not isinstance(v, list) or not all(isinstance(x, str) and x.strip() for x in v):
            self.bad(name, "expected a list of non-empty strings")
            return []
        return [x.strip() for x in v]

    def boolean(self, name: str) -> bool:
        v = self.row.get(name, False)
        if not isinstance(v, bool):
            self.bad(name, f"expected true or false, got {json.dumps(v, ensure_ascii=False)}")
            return False
        return v


def _answer(r: _Row, rid: str) -> AnswerItem:
    question = r.text("question", required=True)
    relevant = r.str_list("relevant_ids", required=True)
    unanswerable = r.boolean("unanswerable")
    if "relevant_ids" in r.row and isinstance(r.row["relevant_ids"], list):
        if unanswerable and relevant:
            r.bad("relevant_ids", "an unanswerable question has no relevant records")
        if not unanswerable and not relevant:
            r.bad("relevant_ids", "empty: give the records that answer it, or set \"unanswerable\": true")
    conv = r.row.get("conversation") or []
    if not isinstance(conv, list) or not all(
            isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("text"), str)
            for t in conv):
        r.bad("conversation", "expected a list of {\"role\": \"user\"|\"assistant\", \"text\": ...} turns")
        conv = []
    filters = r.row.get("filters") or {}
    if not isinstance(filters, dict) or not all(isinstance(v, str) for v in filters.values()):
        r.bad("filters", "expected an object of strings, e.g. {\"kind\": \"case\"}")
        filters = {}
    elif set(filters) - set(FILTER_KEYS):
        r.bad("filters", f"unknown key(s) {', '.join(sorted(set(filters) - set(FILTER_KEYS)))}; "
                         f"use {', '.join(sorted(FILTER_KEYS))}")
    return AnswerItem(rid, question.strip(), relevant, unanswerable, r.text("reference_answer").strip(),
                      [{"role": t["role"], "text": t["text"]} for t in conv], dict(filters), r.text("category"),
                      [t for t in r.str_list("must_not_contain") if t.strip()])


def _tag(r: _Row, rid: str) -> TagItem:
    text = r.text("text", required=True)
    tags = r.str_list("tags", required=True)
    if "tags" in r.row and isinstance(r.row["tags"], list) and not r.row["tags"]:
        r.bad("tags", "empty: give at least one dimension/value tag")
    for t in tags:
        if "/" not in t:
            r.bad("tags", f"{t!r} is not dimension/value")
    return TagItem(rid, text.strip(), tags, r.text("category"))


def _draft(r: _Row, rid: str) -> DraftItem:
    t = r.row.get("ticket")
    ticket: dict[str, Any] = {}
    if not isinstance(t, dict):
        r.bad("ticket", "expected a ticket object with id and messages")
    else:
        msgs = t.get("messages")
        if not isinstance(msgs, list) or not msgs or not all(
                isinstance(m, dict) and isinstance(m.get("text"), str) for m in msgs):
            r.bad("ticket.messages", "expected a non-empty list of {\"role\", \"text\"} messages")
        ticket = t
    ref = r.row.get("reference")
    reference: dict[str, str] | None = None
    if ref is not None:
        if not isinstance(ref, dict) or not any(isinstance(ref.get(s), str) and ref.get(s) for s in CASE_SECTIONS):
            r.bad("reference", f"expected a case with at least one of {', '.join(CASE_SECTIONS)}")
        else:
            reference = {k: str(ref.get(k) or "") for k in ("title", *CASE_SECTIONS)}
    return DraftItem(rid or str(ticket.get("id") or ""), ticket, reference, r.text("category"))


MAIN_FIELD = {"answer": "question", "tag": "text", "draft": "ticket"}
PARSERS: dict[str, Callable[[_Row, str], Any]] = {"answer": _answer, "tag": _tag, "draft": _draft}


def load_dataset(path: Path | str, kind: str | None = None) -> Dataset:
    """Read and validate ``path``; ``kind`` (answer, tag, draft) is taken from the first row unless given."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    problems: list[str] = []
    items: list[Any] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(f"{where}: invalid JSON: {e.msg} (column {e.colno})")
            continue
        if not isinstance(row, dict):
            problems.append(f"{where}: expected a JSON object")
            continue
        k = kind_of(row)
        if kind is None and k:
            kind = k
        if kind is None:
            problems.append(f"{where}: question: missing (a row needs question, text or ticket)")
            continue
        if k != kind:
            problems.append(f"{where}: {MAIN_FIELD[kind]}: missing (this is a{'n' if kind == 'answer' else ''} "
                            f"{kind} set, from its first row)")
            continue
        r = _Row(where, row, problems)
        rid = row.get("id")
        if rid is not None and not isinstance(rid, str | int):
            r.bad("id", "expected a string")
            rid = None
        rid_s = str(rid) if rid is not None else ""
        item: Any = PARSERS[kind](r, rid_s)
        item.id = item.id or f"L{n}"
        if item.id in seen:
            r.bad("id", f"duplicate id {item.id!r} (first on line {seen[item.id]})")
        seen[item.id] = n
        items.append(item)
    if problems:
        raise DatasetError(problems)
    if not items:
        raise InputError(f"{path}: no items")
    assert kind is not None
    return Dataset(path, kind, items, hashlib.sha256(raw).hexdigest())

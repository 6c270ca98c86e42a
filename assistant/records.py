"""Validation of untrusted records into the typed records of ``assistant.types``.

Every problem is a ``RecordError`` naming the field, so a loader can report ``file:line: field: why``
and carry on with the next record.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Literal, cast

from .errors import InputError
from .ids import check_id, one_line
from .types import (
    ARTICLE_STATUSES,
    CASE_SECTIONS,
    CASE_STATUSES,
    SEVERITIES,
    Article,
    Case,
    Message,
    Record,
    Ticket,
)

KINDS = ("case", "article", "ticket")
# what each kind stores (its type's fields, and the names accepted for them or kept as bookkeeping);
# anything else in an imported record is left out, with a warning
FIELDS = {
    "case": (*(f.name for f in fields(Case)), "version"),
    "article": (*(f.name for f in fields(Article)), "question", "answer", "created_at", "version"),
    "ticket": (*(f.name for f in fields(Ticket)), "created_at", "updated_at"),
}
Role = Literal["customer", "agent", "system"]
MAX_FIELD_CHARS = 200_000
_TAG = re.compile(r"^[^/\s][^/]*/[^/]*[^/\s]$")


class RecordError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _str(d: Mapping[str, Any], key: str, *, required: bool = False, default: str = "") -> str:
    v = d.get(key)
    if v is None or v == "":
        if required:
            raise RecordError(key, "is required")
        return default
    if isinstance(v, int | float) and not isinstance(v, bool):
        v = str(v)
    if not isinstance(v, str):
        raise RecordError(key, f"must be text, got {type(v).__name__}")
    if len(v) > MAX_FIELD_CHARS:
        raise RecordError(key, f"is {len(v)} characters; the limit is {MAX_FIELD_CHARS}")
    return v.strip()


def _str_list(d: Mapping[str, Any], key: str) -> list[str]:
    v = d.get(key)
    if v is None or v == "":
        return []
    if isinstance(v, str):
        v = [p for p in re.split(r"[;,；，|]", v)]
    if not isinstance(v, list) or not all(isinstance(x, str | int) for x in v):
        raise RecordError(key, "must be a list of text values")
    return [str(x).strip() for x in v if str(x).strip()]


def _bool(d: Mapping[str, Any], key: str) -> bool:
    v = d.get(key)
    if v is None or v == "":
        return False
    if not isinstance(v, bool):
        raise RecordError(key, f"must be true or false, got {v!r}")
    return v


def _choice(d: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    v = _str(d, key, default=default)
    if v not in allowed:
        raise RecordError(key, f"{v!r} is not one of {', '.join(allowed)}")
    return v


def _id(d: Mapping[str, Any]) -> str:
    rid = _str(d, "id", required=True)
    try:
        return check_id(rid, "")
    except InputError as e:
        raise RecordError("id", str(e).strip()) from None


def _title(d: Mapping[str, Any], key: str, notes: list[str] | None) -> str:
    """A title on one line: an import keeps a record whose title holds a line break, joined, and says so."""
    raw = _str(d, key, required=True)
    title = one_line(raw)
    if title != raw and notes is not None:
        notes.append(f"{key}: line breaks joined into one line")
    return title


def _tags(d: Mapping[str, Any]) -> list[str]:
    tags = _str_list(d, "tags")
    for tag in tags:
        if not _TAG.match(tag):
            raise RecordError("tags", f"{tag!r} is not written dimension/value (e.g. 产品线/打印机)")
    return sorted(set(tags), key=tags.index)


def guess_kind(d: Mapping[str, Any]) -> str | None:
    if "messages" in d:
        return "ticket"
    if "body" in d or "question" in d:
        return "article"
    if any(k in d for k in CASE_SECTIONS):
        return "case"
    return None


def parse_record(d: Any, kind: str | None = None, notes: list[str] | None = None) -> Record:
    """Validate one record. ``kind`` comes from the record, else the caller, else the fields. What was
    changed to make it valid (a title joined into one line) is added to ``notes``."""
    if not isinstance(d, Mapping):
        raise RecordError("record", f"must be a JSON object, got {type(d).__name__}")
    given = d.get("kind")
    if given is not None and given not in KINDS:
        raise RecordError("kind", f"{given!r} is not one of {', '.join(KINDS)}")
    if given and kind and given != kind:
        raise RecordError("kind", f"record says {given!r} but --kind {kind} was given")
    k = given or kind or guess_kind(d)
    if k is None:
        raise RecordError("kind", "cannot tell whether this is a case, article or ticket; add \"kind\"")
    if k == "case":
        case = Case(
            id=_id(d), title=_title(d, "title", notes),
            problem=_str(d, "problem"), diagnosis=_str(d, "diagnosis"), solution=_str(d, "solution"),
            outcome=_str(d, "outcome"), tags=_tags(d), product=_str(d, "product"),
            product_version=_str(d, "product_version"), severity=_choice(d, "severity", SEVERITIES, "P3"),
            source_tickets=_str_list(d, "source_tickets"), status=_choice(d, "status", CASE_STATUSES, "approved"),
            created_at=_str(d, "created_at"), updated_at=_str(d, "updated_at"), reviewed_by=_str(d, "reviewed_by"),
        )
        if not any(getattr(case, s) for s in CASE_SECTIONS):
            raise RecordError(CASE_SECTIONS[0], f"a case needs at least one of {', '.join(CASE_SECTIONS)}")
        return case
    if k == "article":
        faq = bool(d.get("faq")) or ("question" in d and "title" not in d)
        title = _title(d, "question" if "question" in d and "title" not in d else "title", notes)
        body = _str(d, "answer", required=True) if "answer" in d and "body" not in d else _str(d, "body", required=True)
        return Article(
            id=_id(d), title=title, body=body, tags=_tags(d), product=_str(d, "product"),
            updated_at=_str(d, "updated_at"), status=_choice(d, "status", ARTICLE_STATUSES, "published"), faq=faq,
        )
    msgs_raw = d.get("messages")
    if not isinstance(msgs_raw, list) or not msgs_raw:
        raise RecordError("messages", "a ticket needs a non-empty list of messages")
    messages = []
    for i, m in enumerate(msgs_raw):
        if not isinstance(m, Mapping):
            raise RecordError(f"messages[{i}]", "must be an object")
        try:
            messages.append(Message(
                id=_str(m, "id", default=str(i + 1)),
                role=cast(Role, _choice(m, "role", ("customer", "agent", "system"), "")),
                text=_str(m, "text", required=True), author=_str(m, "author"), at=_str(m, "at"),
                internal=_bool(m, "internal"),
            ))
        except RecordError as e:
            raise RecordError(f"messages[{i}].{e.field}", e.message) from None
    csat = d.get("csat")
    if csat is not None and (not isinstance(csat, int) or isinstance(csat, bool)):
        raise RecordError("csat", "must be a whole number")
    return Ticket(
        id=_id(d), subject=_title(d, "subject", notes), messages=messages, channel=_str(d, "channel"),
        product=_str(d, "product"), priority=_str(d, "priority"), status=_str(d, "status", default="closed"),
        csat=csat,
    )


def unknown_fields(d: Mapping[str, Any], record: Record) -> tuple[str, ...]:
    """The keys of ``d`` that ``record`` (parsed from it) does not store: a misspelt ``soluton`` would
    otherwise lose the solution without a word."""
    known = FIELDS[record.kind]
    return tuple(sorted(str(k) for k in d if k not in known))


def content_hash(record: Record) -> str:
    """Hash of the validated record; equal hashes mean a re-import changes nothing."""
    blob = json.dumps(_plain(record), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _plain(record: Record) -> dict[str, Any]:
    """``record.to_dict()``, four times faster for a case or article: their fields are strings, flags
    and lists of strings, which JSON writes the same without ``asdict``'s deep copy."""
    if isinstance(record, Ticket):
        return record.to_dict()
    return {f.name: getattr(record, f.name) for f in fields(record)}


def closest(name: str, options: Any) -> str | None:
    """The option a misspelt ``name`` (a field, a column) was probably meant to be, or None."""
    close = difflib.get_close_matches(name, list(options), n=1, cutoff=0.75)
    return close[0] if close else None

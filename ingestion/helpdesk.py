"""Helpdesk exports as casepilot tickets: Zendesk, Freshdesk, and a CSV of conversation turns.

The shapes follow the vendors' API references (docs/importing.md has the mapping):

* Zendesk: tickets (``id``, ``subject``, ``status``, ``priority``, ``requester_id``, ``via.channel``,
  ``satisfaction_rating``, ``description``) with their ``comments`` (``id``, ``author_id``, ``body`` /
  ``plain_body`` / ``html_body``, ``public``, ``created_at``) and side-loaded ``users`` (``id``, ``name``,
  ``role``: end-user | agent | admin). https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/,
  .../tickets/ticket_comments/, .../users/users/, .../ticket-management/incremental_exports/
* Freshdesk API v2: tickets (``id``, ``subject``, ``description_text``, ``status`` 2–5, ``priority`` 1–4,
  ``source``, ``requester_id``) with ``conversations`` (``body_text``, ``incoming``, ``private``,
  ``user_id``, ``created_at``). https://developers.freshdesk.com/api/#view_a_ticket (include=conversations),
  https://developers.freshdesk.com/api/#list_all_ticket_notes

A bad ticket is a ``Reject`` naming the file and the ticket (or the CSV line); the others import.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from assistant.records import RecordError, parse_record
from assistant.types import Ticket

from .encodings import not_utf8
from .items import JSONL_SUFFIXES, Item, Loaded, Reject

FORMATS = ("zendesk", "freshdesk", "turns-csv")
ID_PREFIX = {"zendesk": "ZD-", "freshdesk": "FD-"}  # helpdesks number tickets alike: keep them apart
ZENDESK_PRIORITY = {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"}
ZENDESK_CSAT = {"good": 5, "bad": 1}  # satisfaction_rating.score; "offered"/"unoffered" are no rating
FRESHDESK_STATUS = {2: "open", 3: "pending", 4: "resolved", 5: "closed"}
FRESHDESK_PRIORITY = {1: "P4", 2: "P3", 3: "P2", 4: "P1"}
FRESHDESK_SOURCE = {1: "email", 2: "portal", 3: "phone", 7: "chat", 9: "feedback_widget", 10: "outbound_email"}
TURN_COLUMNS = ("ticket_id", "role", "text")
TURN_OPTIONAL = ("message_id", "at", "author", "internal", "subject", "status", "channel", "product",
                 "priority", "csat")
TURN_ROLES = {"customer": "customer", "end-user": "customer", "requester": "customer", "客户": "customer",
              "用户": "customer", "agent": "agent", "客服": "agent", "坐席": "agent", "system": "system",
              "系统": "system", "note": "note", "internal": "note", "备注": "note", "内部备注": "note"}
_TRUE = ("true", "1", "yes", "y", "是")
_FALSE = ("false", "0", "no", "n", "否", "")
_TAG = re.compile(r"<[^>]+>")


# ---- detection -------------------------------------------------------------------------------


def sniff_ticket(t: Any) -> str | None:
    """Which helpdesk a ticket object comes from, by its keys; None for casepilot's own records."""
    if not isinstance(t, Mapping) or "kind" in t or "messages" in t:
        return None
    if "conversations" in t or "description_text" in t:
        return "freshdesk"
    if "comments" in t or ("requester_id" in t and isinstance(t.get("status"), str)) or "via" in t:
        return "zendesk"
    if "requester_id" in t and isinstance(t.get("status"), int):
        return "freshdesk"
    return None


def sniff_document(doc: Any) -> str | None:
    """The helpdesk format of a JSON document (a whole file, or one line of an NDJSON export)."""
    tickets = _tickets_of(doc)
    return next((f for t in tickets[:5] if (f := sniff_ticket(t))), None)


def _tickets_of(doc: Any) -> list[Any]:
    if isinstance(doc, list):
        return doc
    if isinstance(doc, Mapping):
        if isinstance(doc.get("tickets"), list):  # a list endpoint or the incremental export
            return list(doc["tickets"])
        if isinstance(doc.get("ticket"), Mapping):  # GET /api/v2/tickets/{id}.json, a webhook
            return [doc["ticket"]]
        return [doc]
    return []


def load(path: Path, fmt: str | None, kind: str | None) -> Iterator[Item] | None:
    """The items of ``path`` when it is a helpdesk export (``fmt`` given, or detected from its
    content); None when it is not, and the usual loaders read it."""
    suffix = path.suffix.lower()
    if fmt is None:
        if suffix == ".csv":
            fmt = "turns-csv" if _is_turns_csv(path) else None
        elif suffix in JSONL_SUFFIXES:
            fmt = _sniff_json_file(path)
        if fmt is None:
            return None
    if kind not in (None, "ticket"):
        return iter([Reject(str(path), None, None, f"a {fmt} file holds tickets, not {kind}s")])
    return load_turns_csv(path) if fmt == "turns-csv" else load_export(path, fmt)


def _is_turns_csv(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.readline().decode("utf-8-sig", errors="replace")
    columns = {c.strip() for c in next(csv.reader([head]), [])}
    return set(TURN_COLUMNS) <= columns


_VISIBLE = re.compile(rb"\S")


def _sniff_json_file(path: Path) -> str | None:
    raw = path.read_bytes()
    end = raw.find(b"\n")
    if end != -1 and _VISIBLE.search(raw, end):  # several lines: a first line that parses decides, as below
        try:
            return sniff_document(json.loads(raw[:end].decode("utf-8-sig", errors="replace")))
        except json.JSONDecodeError:
            pass  # a pretty-printed document, or a broken first line
    text = raw.decode("utf-8-sig", errors="replace")
    doc = _whole(text)
    if doc is not None:
        return sniff_document(doc)
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    try:
        return sniff_document(json.loads(first))
    except json.JSONDecodeError:
        pass
    if text.lstrip().startswith("[") or first.strip() == "{":  # one document, broken: tell it by its keys
        head = text[:65536]
        if re.search(r'"(conversations|description_text)"\s*:', head):
            return "freshdesk"
        if re.search(r'"(comments|requester_id)"\s*:', head):
            return "zendesk"
    return None


def _whole(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


# ---- JSON exports ----------------------------------------------------------------------------


def load_export(path: Path, fmt: str) -> Iterator[Item]:
    """A Zendesk or Freshdesk export: one JSON document (a list of tickets, ``{"tickets": [...],
    "users": [...]}``, ``{"ticket": {...}, "comments": [...]}``), or one such document a line (NDJSON)."""
    file = str(path)
    text = _read(path)
    if isinstance(text, Reject):
        yield text
        return
    docs: list[tuple[int | None, Any]]  # (line of an NDJSON document, the document)
    try:
        docs = [(None, json.loads(text))]
    except json.JSONDecodeError as e:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if not e.msg.startswith("Extra data") and (text.lstrip().startswith("[") or lines[:1] == ["{"]):
            yield Reject(file, e.lineno, None, f"invalid JSON: {e.msg} (line {e.lineno}, column {e.colno}); "
                         "the file is one document, so none of it was read")
            return
        docs = []
        for n, text_line in enumerate(text.splitlines(), 1):  # NDJSON: a bad line is skipped, the rest read
            if not text_line.strip():
                continue
            try:
                docs.append((n, json.loads(text_line)))
            except json.JSONDecodeError as le:
                yield Reject(file, n, None, f"invalid JSON: {le.msg} (column {le.colno})")
    convert = zendesk_ticket if fmt == "zendesk" else freshdesk_ticket
    for line, doc in docs:
        users = _users(doc)
        tickets = _tickets_of(doc)
        if not tickets:
            yield Reject(file, line, None, f"expected {fmt} tickets (a list, or an object with \"tickets\")")
        for i, t in enumerate(tickets):
            if isinstance(doc, Mapping) and isinstance(doc.get("ticket"), Mapping) and "comments" in doc:
                t = {**t, "comments": doc["comments"]}  # a ticket and its comments, fetched apart
            known = isinstance(t, Mapping) and t.get("id") is not None
            where = f"ticket {t['id']}" if known else f"ticket #{i + 1}"
            if isinstance(t, Mapping) and t.get("status") == "deleted":
                continue  # the incremental export lists deleted tickets: nothing to import
            try:
                rec = parse_record(convert(t, users), "ticket")
            except RecordError as e:
                yield Reject(file, line, where, f"{e.field}: {e.message}")
                continue
            yield Loaded(rec, file, line or i + 1)


def _users(doc: Any) -> dict[str, Mapping[str, Any]]:
    users = doc.get("users") if isinstance(doc, Mapping) else None
    return {str(u.get("id")): u for u in users if isinstance(u, Mapping)} if isinstance(users, list) else {}


def _text(v: Any) -> str:
    return v if isinstance(v, str) else "" if v is None else str(v)


def _html_text(html: str) -> str:
    return _TAG.sub("", re.sub(r"<br\s*/?>|</p>|</div>", "\n", html)).strip()


def _flag(v: Any) -> bool:
    """A JSON boolean, or a webhook's rendered placeholder ("true" / "false")."""
    return v if isinstance(v, bool) else _text(v).strip().lower() in _TRUE


def _need(t: Mapping[str, Any], key: str) -> Any:
    v = t.get(key)
    if v is None or v == "":
        raise RecordError(key, "is required")
    return v


def zendesk_ticket(t: Any, users: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """A Zendesk ticket (with ``comments``) as a casepilot ticket record. A comment's author is the
    customer when the side-loaded user is an end-user (or, without users, when it is the requester);
    ``public: false`` is an internal note."""
    if not isinstance(t, Mapping):
        raise RecordError("ticket", f"must be an object, got {type(t).__name__}")
    users = users or {}
    tid, status = _need(t, "id"), _text(_need(t, "status")).lower()
    requester = _text(t.get("requester_id"))
    comments = t.get("comments")
    if comments is None and t.get("description"):  # the list endpoints carry only the first comment
        comments = [{"id": "description", "author_id": t.get("requester_id"), "author_role": "end-user",
                     "plain_body": t["description"],
                     "public": True, "created_at": t.get("created_at")}]
    if not isinstance(comments, list) or not comments:
        raise RecordError("comments", "a ticket needs its comments (or at least a description)")
    messages = []
    for i, c in enumerate(comments):
        if not isinstance(c, Mapping):
            raise RecordError(f"comments[{i}]", "must be an object")
        body = _text(c.get("plain_body")) or _text(c.get("body")) or _html_text(_text(c.get("html_body")))
        if not body.strip():
            raise RecordError(f"comments[{i}].body", "is required (body, plain_body or html_body)")
        author = _text(c.get("author_id"))
        user = users.get(author, {})
        role = user.get("role") or c.get("author_role")  # a webhook payload names the role itself
        if author == "-1":  # Zendesk's own system user
            kind = "system"
        elif role:
            kind = "customer" if role == "end-user" else "agent"
        else:
            kind = "customer" if author and author == requester else "agent"
        messages.append({"id": _text(c.get("id")) or str(i + 1), "role": kind, "text": body,
                         "author": _text(user.get("name") or c.get("author_name")) or author,
                         "at": _text(c.get("created_at")), "internal": not _flag(c.get("public", True))})
    via = t.get("via")
    rating = t.get("satisfaction_rating")
    return {"kind": "ticket", "id": ID_PREFIX["zendesk"] + _text(tid), "subject": _text(t.get("subject")
                                                                                   or t.get("raw_subject")),
            "status": status, "priority": ZENDESK_PRIORITY.get(_text(t.get("priority")).lower(), ""),
            "channel": _text(via.get("channel")) if isinstance(via, Mapping) else _text(via),
            "csat": ZENDESK_CSAT.get(_text(rating.get("score"))) if isinstance(rating, Mapping) else None,
            "messages": messages}


def freshdesk_ticket(t: Any, users: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """A Freshdesk ticket (with ``conversations``) as a casepilot ticket record: the description is the
    requester's first message; a conversation is the customer's when ``incoming`` or written by the
    requester; ``private: true`` is an internal note."""
    if not isinstance(t, Mapping):
        raise RecordError("ticket", f"must be an object, got {type(t).__name__}")
    tid, status = _need(t, "id"), _need(t, "status")
    if not isinstance(status, int):
        raise RecordError("status", f"must be Freshdesk's status number (2 open … 5 closed), got {status!r}")
    requester = _text(t.get("requester_id"))
    req: Mapping[str, Any] = t["requester"] if isinstance(t.get("requester"), Mapping) else {}
    description = _text(t.get("description_text")) or _html_text(_text(t.get("description")))
    if not description.strip():
        raise RecordError("description_text", "is required (the ticket's first message)")
    messages: list[dict[str, Any]] = [{"id": "description", "role": "customer", "text": description,
                                       "at": _text(t.get("created_at")), "author": _text(req.get("name")) or requester}]
    conversations = t.get("conversations") or []
    if not isinstance(conversations, list):
        raise RecordError("conversations", "must be a list")
    for i, c in enumerate(conversations):
        if not isinstance(c, Mapping):
            raise RecordError(f"conversations[{i}]", "must be an object")
        body = _text(c.get("body_text")) or _html_text(_text(c.get("body")))
        if not body.strip():
            raise RecordError(f"conversations[{i}].body_text", "is required (body_text or body)")
        private = _flag(c.get("private", False))
        user = _text(c.get("user_id"))
        customer = not private and (_flag(c.get("incoming", False)) or (bool(user) and user == requester))
        messages.append({"id": _text(c.get("id")) or str(i + 1), "role": "customer" if customer else "agent",
                         "text": body, "at": _text(c.get("created_at")), "internal": private,
                         "author": (_text(req.get("name")) or user) if customer else user})
    return {"kind": "ticket", "id": ID_PREFIX["freshdesk"] + _text(tid), "subject": _text(t.get("subject")),
            "status": FRESHDESK_STATUS.get(status, f"status-{status}"),
            "priority": FRESHDESK_PRIORITY.get(_code(t.get("priority")), ""),
            "channel": FRESHDESK_SOURCE.get(_code(t.get("source")), ""), "messages": messages}


def _code(v: Any) -> int:
    """A Freshdesk code (priority, source) as a key of its table; anything else is no code."""
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def parse_webhook(body: Any) -> Ticket:
    """One ticket posted by a helpdesk: casepilot's own ticket JSON (``messages``), a Zendesk ticket
    (``{"ticket": {...}}`` as the trigger of docs/importing.md sends it, or the API's ticket with
    ``comments``), or a Freshdesk ticket with ``conversations``."""
    doc = body
    ticket: Any = doc["ticket"] if isinstance(doc, Mapping) and isinstance(doc.get("ticket"), Mapping) else doc
    fmt = sniff_ticket(ticket)
    if fmt is None:
        rec = parse_record(ticket, "ticket")
    else:
        if ticket is not doc and isinstance(doc, Mapping) and "comments" in doc:
            ticket = {**ticket, "comments": doc["comments"]}
        users = _users(doc)
        rec = parse_record((zendesk_ticket if fmt == "zendesk" else freshdesk_ticket)(ticket, users), "ticket")
    assert isinstance(rec, Ticket)
    return rec


# ---- a CSV of conversation turns -------------------------------------------------------------


def _read(path: Path) -> str | Reject:
    """The file's text, or why it is not UTF-8, on the line of the first bad byte."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return Reject(str(path), raw[: e.start].count(b"\n") + 1, None, f"{not_utf8(raw, e)}; the file was not read")


def load_turns_csv(path: Path) -> Iterator[Item]:
    """One conversation turn a row: ``ticket_id,role,text`` and the optional columns of
    ``TURN_OPTIONAL``; the rows of a ticket, in file order, are its messages."""
    file = str(path)
    text = _read(path)
    if isinstance(text, Reject):
        yield text
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as e:
        yield Reject(file, 1, None, f"cannot read the header: {e}")
        return
    missing = [c for c in TURN_COLUMNS if c not in header]
    if missing:
        yield Reject(file, 1, None, f"a turns CSV needs columns {','.join(TURN_COLUMNS)}; "
                     f"missing: {', '.join(missing)}")
        return
    tickets: dict[str, tuple[int, dict[str, Any]]] = {}  # id -> (first line, record)
    bad: set[str] = set()
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            yield Reject(file, reader.line_num, None, f"cannot read this row ({e}); the rest of the file was not read")
            break
        if not any(f.strip() for f in row):
            continue
        line = reader.line_num
        r = {h: (v.strip() if h != "text" else v) for h, v in zip(header, row, strict=False)}
        tid = r.get("ticket_id", "")
        try:
            msg = _turn(r, len(tickets.get(tid, (0, {"messages": []}))[1]["messages"]))
        except RecordError as e:
            yield Reject(file, line, e.field, e.message)
            bad.add(tid)
            continue
        first, rec = tickets.setdefault(tid, (line, {"kind": "ticket", "id": tid, "messages": []}))
        rec["messages"].append(msg)
        for k in ("subject", "status", "channel", "product", "priority", "csat"):
            if r.get(k) and k not in rec:  # a ticket's fields: the first row that gives them
                rec[k] = int(r[k]) if k == "csat" and r[k].isdigit() else r[k]
    for tid, (first, rec) in tickets.items():
        if not rec.get("subject"):  # chat logs rarely have subjects: the customer's first words
            opening = next((m["text"] for m in rec["messages"] if m["role"] == "customer"), rec["messages"][0]["text"])
            rec["subject"] = re.split(r"[\n。！？!?]", opening.strip())[0][:60]
        try:
            yield Loaded(parse_record(rec, "ticket"), file, first)
        except RecordError as e:
            yield Reject(file, first, e.field, f"ticket {tid}: {e.message}"
                         + (" (some of its rows were rejected)" if tid in bad else ""))


def _turn(r: Mapping[str, str], n: int) -> dict[str, Any]:
    if not r.get("ticket_id"):
        raise RecordError("ticket_id", "is required")
    role = TURN_ROLES.get(r.get("role", "").strip().lower())
    if role is None:
        raise RecordError("role", f"{r.get('role')!r} is not one of customer, agent, system, note")
    if not (r.get("text") or "").strip():
        raise RecordError("text", "is required")
    internal = (r.get("internal") or "").strip().lower()
    if internal not in (*_TRUE, *_FALSE):
        raise RecordError("internal", f"{r.get('internal')!r} is not true or false")
    return {"id": r.get("message_id") or str(n + 1), "role": "agent" if role == "note" else role,
            "text": r["text"].strip(), "author": r.get("author", ""), "at": r.get("at", ""),
            "internal": role == "note" or internal in _TRUE}

"""A record's history: its versions (who, when, what changed), a diff of any two section by section,
and restoring an earlier version's content as a new version.

History is never rewritten: a restore is one more write through the caller's writer (the import
write path, so chunks and both indexes follow, as in ``assistant.review``), with an audit entry
``restore`` naming the version restored from. Callers hold the tenant's write lock around
``restore``, as for every other write.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from .errors import InputError, NotFound
from .library import Library
from .records import RecordError, parse_record
from .review import WriterFactory
from .store.records import RecordVersion, StoredRecord
from .text import sentences
from .types import CASE_SECTIONS, SERVED_STATUSES

# what a diff compares, in this order; text fields get a unified diff, lists added/removed
TEXT_FIELDS = ("title", *CASE_SECTIONS, "body")
LIST_FIELDS = ("tags", "source_tickets")
VALUE_FIELDS = ("product", "product_version", "severity", "status", "faq", "reviewed_by")
# kept from the current version on a restore: where the record is in review is decided by review, not
# by history (restoring a draft's wording must not take an approved case out of retrieval)
KEPT_ON_RESTORE = ("id", "kind", "status", "created_at")
# written by the store or the workflow; not "what changed" in a version list
BOOKKEEPING = ("updated_at", "reviewed_by", "created_at")


@dataclass
class VersionInfo:
    version: int
    at: str
    actor: str
    action: str  # the audit action of the write: create, update, restore, archive, ...
    changed: list[str] = field(default_factory=list)  # fields changed against the previous version
    restored_from: int | None = None
    title: str = ""
    status: str = ""


@dataclass
class FieldDiff:
    field: str
    kind: str  # text | list | value
    # dataclasses.field: the attribute ``field`` above hides the name in this class body
    diff: list[str] = dataclasses.field(default_factory=list)  # text: unified diff lines (" ", "-", "+", "@@")
    added: list[str] = dataclasses.field(default_factory=list)  # list
    removed: list[str] = dataclasses.field(default_factory=list)
    before: Any = None  # value
    after: Any = None


@dataclass
class VersionDiff:
    id: str
    from_version: int
    to_version: int
    changes: list[FieldDiff]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class History:
    def __init__(self, library: Library, *, writer: WriterFactory | None = None) -> None:
        self.lib = library
        self.writer = writer  # needed by restore only

    def _record(self, record_id: str) -> StoredRecord:
        rec = self.lib.store.get(self.lib.tenant, record_id)
        if rec is None or rec.kind not in ("case", "article"):
            raise NotFound(f"no case or article {record_id!r} in tenant {self.lib.tenant!r}")
        return rec

    def _versions(self, record_id: str) -> dict[int, RecordVersion]:
        self._record(record_id)
        return {v.version: v for v in self.lib.store.versions(self.lib.tenant, record_id)}

    def versions(self, record_id: str, *, served_only: bool = False) -> list[VersionInfo]:
        """The record's versions, oldest first, each with its write's audit action and what changed.
        ``served_only``: only the approved or published versions, each compared with the one before it
        in that list (what an agent may see)."""
        self._record(record_id)
        stored = self.lib.store.versions(self.lib.tenant, record_id)
        if served_only:
            stored = [v for v in stored if v.data.get("status") in SERVED_STATUSES]
        writes: dict[int, str] = {}
        restores: dict[int, int] = {}
        for e in self.lib.store.audit(self.lib.tenant, record_id):
            v = e.detail.get("version")
            if not isinstance(v, int):
                continue
            if e.action == "restore" and "from" in e.detail:
                restores[v] = int(e.detail["from"])
            else:
                writes.setdefault(v, e.action)
        out, prev = [], None
        for v in stored:
            changed: list[str] = [] if prev is None else [
                k for k in _changed(prev.data, v.data) if k not in BOOKKEEPING]
            out.append(VersionInfo(
                version=v.version, at=v.at, actor=v.actor,
                action="restore" if v.version in restores else writes.get(v.version, "update"),
                changed=changed, restored_from=restores.get(v.version),
                title=str(v.data.get("title") or ""), status=str(v.data.get("status") or "")))
            prev = v
        return out

    def diff(self, record_id: str, a: int, b: int) -> VersionDiff:
        """What changed from version ``a`` to version ``b``, field by field (only changed fields)."""
        vs = self._versions(record_id)
        for n in (a, b):
            if n not in vs:
                raise NotFound(f"{record_id} has no version {n}; it has {_span(vs)}")
        return VersionDiff(record_id, a, b, diff_data(vs[a].data, vs[b].data))

    def restore(self, record_id: str, version: int, actor: str) -> tuple[int, list[str]]:
        """Write version ``version``'s content as a new version; returns the new version and the
        write's warnings. The current status is kept (``KEPT_ON_RESTORE``)."""
        if self.writer is None:
            raise InputError("restoring needs a writer")
        rec = self._record(record_id)
        vs = self._versions(record_id)
        if version not in vs:
            raise NotFound(f"{record_id} has no version {version}; it has {_span(vs)}")
        if version == rec.version:
            raise InputError(f"version {version} is the current version of {record_id}; nothing to restore")
        data = {**vs[version].data, **{k: rec.data[k] for k in KEPT_ON_RESTORE if k in rec.data},
                "reviewed_by": actor, "updated_at": datetime.now(UTC).date().isoformat()}
        if _content(data) == _content(rec.data):
            raise InputError(f"version {version} of {record_id} holds what the current version "
                             f"{rec.version} holds; nothing to restore")
        notes: list[str] = []
        try:
            parsed = parse_record(data, notes=notes)
        except RecordError as e:
            raise InputError(f"version {version} of {record_id} is not a valid record now: {e}") from None
        warnings = [f"{record_id}: {n}" for n in notes]
        warnings += self.writer(self.lib, actor=actor).ingest_records([parsed]).warnings
        now = self.lib.store.get(self.lib.tenant, record_id)
        assert now is not None
        if now.version == rec.version:  # the writer found nothing to change (same content after validation)
            raise InputError(f"version {version} of {record_id} holds what the current version "
                             f"{rec.version} holds; nothing to restore")
        self.lib.store.note(self.lib.tenant, record_id, "restore", actor, {"from": version, "version": now.version})
        return now.version, warnings


def diff_data(old: dict[str, Any], new: dict[str, Any]) -> list[FieldDiff]:
    """The changed fields of two versions of a record: text as a unified diff of sentences (one a
    line), lists as added and removed, other values as before and after."""
    out: list[FieldDiff] = []
    known = (*TEXT_FIELDS, *LIST_FIELDS, *VALUE_FIELDS)
    others = sorted(k for k in set(old) | set(new) if k not in known and k not in ("updated_at", "created_at"))
    for k in (*known, *others):
        a, b = old.get(k), new.get(k)
        if a == b or (not a and not b):
            continue
        if k in TEXT_FIELDS:
            lines = list(difflib.unified_diff(_units(a), _units(b), lineterm="", n=2))[2:]  # no ---/+++ header
            out.append(FieldDiff(k, "text", diff=lines))
        elif k in LIST_FIELDS or isinstance(a, list) or isinstance(b, list):
            la, lb = [str(x) for x in a or []], [str(x) for x in b or []]
            out.append(FieldDiff(k, "list", added=[x for x in lb if x not in la],
                                 removed=[x for x in la if x not in lb]))
        else:
            out.append(FieldDiff(k, "value", before=a, after=b))
    return out


def _units(text: Any) -> list[str]:
    """A text cut into lines, and long lines into sentences: what a diff line holds."""
    return [s for line in str(text or "").splitlines() for s in (sentences(line) or [""])]


def _changed(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _content(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in BOOKKEEPING}


def _span(vs: dict[int, RecordVersion]) -> str:
    return f"versions {min(vs)}..{max(vs)}" if vs else "no versions"

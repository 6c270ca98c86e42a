"""Records, their versions and the audit log: every write of a record is a new version with an audit
entry, in the same transaction as its chunks (``ChunkStore``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..types import SEARCHABLE_KINDS, UNINDEXED_STATUSES, Chunk
from . import schema as t
from .chunks import ChunkStore, WriteResult
from .desk import opened_at, record_tags
from .engine import now_iso


@dataclass
class StoredRecord:
    tenant: str
    id: str
    kind: str
    status: str
    title: str
    product: str
    data: dict[str, Any]
    content_hash: str
    version: int
    deleted: bool
    created_at: str
    updated_at: str


@dataclass
class RecordWrite:
    """A record to create or replace, with the chunks it should have in the indexes (none when it is
    not indexed, e.g. tickets and archived records)."""

    record: dict[str, Any]
    content_hash: str
    chunks: list[Chunk] = field(default_factory=list)


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit log (the field order is the JSON's)."""

    seq: int
    tenant: str
    record_id: str
    action: str  # create | update | restore | archive | delete | approve | reject | merge | ...
    actor: str
    at: str
    detail: dict[str, Any]


@dataclass(frozen=True)
class RecordVersion:
    """One stored version of a record."""

    tenant: str
    id: str
    version: int
    data: dict[str, Any]
    content_hash: str
    at: str
    actor: str


class RecordReader(Protocol):
    """What answering and review read of records."""

    def get(self, tenant: str, record_id: str, *, include_deleted: bool = False) -> StoredRecord | None: ...

    def get_many(self, tenant: str, record_ids: Sequence[str]) -> dict[str, StoredRecord]: ...

    def records(self, tenant: str, *, kind: str | None = None, include_deleted: bool = False) -> list[StoredRecord]: ...


def _row_to_record(row: Any) -> StoredRecord:
    return StoredRecord(
        tenant=row.tenant, id=row.id, kind=row.kind, status=row.status, title=row.title,
        product=row.product, data=json.loads(row.data), content_hash=row.content_hash,
        version=row.version, deleted=bool(row.deleted), created_at=row.created_at, updated_at=row.updated_at,
    )


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


# statements built once: building one costs more than running it
_p = sa.bindparam
_RECORD = sa.select(t.records).where(t.records.c.tenant == _p("tenant"), t.records.c.id == _p("id"))
_LIVE_RECORDS = sa.select(t.records).where(t.records.c.tenant == _p("tenant"), t.records.c.deleted == sa.false(),
                                           t.records.c.id.in_(_p("ids", expanding=True)))


class RecordStore(ChunkStore):
    """The ``Store``'s record, version and audit methods (a mixin: ``Store`` gives the engine)."""

    def get(self, tenant: str, record_id: str, *, include_deleted: bool = False) -> StoredRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(_RECORD, {"tenant": tenant, "id": record_id}).first()
        if row is None or (row.deleted and not include_deleted):
            return None
        return _row_to_record(row)

    def get_many(self, tenant: str, record_ids: Sequence[str]) -> dict[str, StoredRecord]:
        """``id -> record`` for those of ``record_ids`` that exist and are not deleted (one query)."""
        with self.engine.connect() as conn:
            return {r.id: _row_to_record(r)
                    for r in conn.execute(_LIVE_RECORDS, {"tenant": tenant, "ids": list(record_ids)})}

    def tenants(self) -> list[str]:
        """Every tenant that holds a record, sorted."""
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(t.records.c.tenant).distinct()).scalars())

    def has_searchable(self, tenant: str) -> bool:
        """Whether the tenant holds any case or article that is not deleted (one indexed query)."""
        c = t.records.c
        q = sa.select(c.id).where(c.tenant == tenant, c.kind.in_(SEARCHABLE_KINDS), c.deleted == sa.false()).limit(1)
        with self.engine.connect() as conn:
            return conn.execute(q).first() is not None

    def searchable_records(self, tenant: str, limit: int) -> list[StoredRecord] | None:
        """The tenant's live cases and articles that answers may quote, if there are at most ``limit``
        of them; else None (one query, reading ``limit + 1`` rows at most)."""
        c = t.records.c
        q = (sa.select(t.records).where(c.tenant == tenant, c.kind.in_(SEARCHABLE_KINDS), c.deleted == sa.false(),
                                        c.status.notin_(("draft", "in_review", "rejected", *UNINDEXED_STATUSES)))
             .order_by(c.id).limit(limit + 1))
        with self.engine.connect() as conn:
            rows = [_row_to_record(r) for r in conn.execute(q)]
        return rows if len(rows) <= limit else None

    def products(self, tenant: str, kinds: Sequence[str] = SEARCHABLE_KINDS) -> set[str]:
        """The product names the tenant's live records of ``kinds`` carry (one query, no record read)."""
        c = t.records.c
        q = sa.select(c.product).distinct().where(c.tenant == tenant, c.kind.in_(list(kinds)),
                                                  c.deleted == sa.false(), c.product != "")
        with self.engine.connect() as conn:
            return set(conn.execute(q).scalars())

    def records(self, tenant: str, *, kind: str | None = None, include_deleted: bool = False) -> list[StoredRecord]:
        q = sa.select(t.records).where(t.records.c.tenant == tenant).order_by(t.records.c.id)
        if kind:
            q = q.where(t.records.c.kind == kind)
        if not include_deleted:
            q = q.where(t.records.c.deleted == sa.false())
        with self.engine.connect() as conn:
            return [_row_to_record(r) for r in conn.execute(q)]

    def tag_use(self, tags: Iterable[str], tenant: str | None = None) -> dict[str, dict[str, int]]:
        """``tag -> {tenant: records}`` for the stored records (of ``tenant``, or of every tenant)
        that carry any of ``tags``."""
        wanted = set(tags)
        out: dict[str, dict[str, int]] = {}
        if not wanted:
            return out
        q = sa.select(t.records.c.tenant, t.records.c.data).where(t.records.c.deleted == sa.false())
        if tenant is not None:
            q = q.where(t.records.c.tenant == tenant)
        with self.engine.connect() as conn:
            for row in conn.execute(q):
                for tag in set(json.loads(row.data).get("tags") or []) & wanted:
                    per = out.setdefault(tag, {})
                    per[row.tenant] = per.get(row.tenant, 0) + 1
        return out

    def write(self, tenant: str, writes: Sequence[RecordWrite], *, actor: str,
              vectors: dict[str, np.ndarray] | None = None, model_id: str = "") -> WriteResult:
        """Create or replace records and their chunks in one transaction (all or nothing)."""
        res = WriteResult()
        at = now_iso()
        with self._chunk_write() as conn:
            for w in writes:
                self._write_one(conn, tenant, w, actor, at, res)
            if vectors:
                self._put_vectors(conn, model_id, vectors)
            if res.chunks_added or res.chunks_removed:
                self._bump_generation(conn, tenant)
        return res

    def _write_one(self, conn: Connection, tenant: str, w: RecordWrite, actor: str, at: str,
                   res: WriteResult) -> None:
        rec = w.record
        rid = str(rec["id"])
        old = conn.execute(
            sa.select(t.records).where(t.records.c.tenant == tenant, t.records.c.id == rid)
        ).first()
        values = {
            "kind": rec["kind"], "status": rec.get("status") or "",
            "title": rec.get("title") or rec.get("subject") or "",
            "product": rec.get("product") or "", "data": json.dumps(rec, ensure_ascii=False, sort_keys=True),
            "content_hash": w.content_hash, "deleted": False, "updated_at": at,
        }
        if rec["kind"] == "ticket":
            values["opened_at"] = opened_at(rec, old.created_at if old is not None else at)
        detail: dict[str, Any] = {}
        if old is None:
            version = 1
            conn.execute(sa.insert(t.records).values(tenant=tenant, id=rid, version=version, created_at=at, **values))
            action = "create"
            res.added.append(rid)
        else:
            version = old.version + 1
            conn.execute(sa.update(t.records).where(t.records.c.tenant == tenant, t.records.c.id == rid)
                         .values(version=version, **values))
            if old.deleted:
                action = "restore"
                res.added.append(rid)
            else:
                action = "archive" if values["status"] == "archived" and old.status != "archived" else "update"
                detail = {"fields": _changed_fields(json.loads(old.data), rec)}
                (res.removed if action == "archive" else res.updated).append(rid)
        conn.execute(sa.insert(t.record_versions).values(
            tenant=tenant, id=rid, version=version, data=values["data"], content_hash=w.content_hash, at=at,
            actor=actor))
        detail["version"] = version
        self._audit(conn, tenant, rid, action, actor, at, detail)
        old_tags = None if old is None else record_tags(json.loads(old.data))
        self._replace_tags(conn, tenant, rid, record_tags(rec), old_tags)
        self._replace_chunks(conn, tenant, rid, w.chunks, res)

    @staticmethod
    def _replace_tags(conn: Connection, tenant: str, rid: str, tags: list[str], old: list[str] | None) -> None:
        """The record's rows in ``record_tags`` (what the desk counts questions by), when they changed."""
        if tags == old:
            return
        if old:
            conn.execute(sa.delete(t.record_tags).where(t.record_tags.c.tenant == tenant,
                                                        t.record_tags.c.record_id == rid))
        if tags:
            conn.execute(sa.insert(t.record_tags), [{"tenant": tenant, "record_id": rid, "tag": tag} for tag in tags])

    def delete(self, tenant: str, ids: Iterable[str], *, actor: str) -> tuple[list[str], list[str], list[str]]:
        """Soft-delete records (kept in versions and audit); returns ``(deleted, unknown, removed chunk ids)``."""
        removed_chunks: list[str] = []
        deleted: list[str] = []
        unknown: list[str] = []
        at = now_iso()
        with self._chunk_write() as conn:
            for rid in ids:
                row = conn.execute(sa.select(t.records.c.deleted).where(
                    t.records.c.tenant == tenant, t.records.c.id == rid)).first()
                if row is None or row.deleted:
                    unknown.append(rid)
                    continue
                conn.execute(sa.update(t.records).where(t.records.c.tenant == tenant, t.records.c.id == rid)
                             .values(deleted=True, updated_at=at))
                cc = t.chunks.c
                removed_chunks.extend(conn.execute(
                    sa.select(cc.chunk_id).where(cc.tenant == tenant, cc.record_id == rid)).scalars())
                conn.execute(sa.delete(t.chunks).where(cc.tenant == tenant, cc.record_id == rid))
                self._audit(conn, tenant, rid, "delete", actor, at, {})
                deleted.append(rid)
            if deleted:
                self._bump_generation(conn, tenant)
        return deleted, unknown, removed_chunks

    def audit(self, tenant: str, record_id: str | None = None) -> list[AuditEntry]:
        q = sa.select(t.audit_log).where(t.audit_log.c.tenant == tenant).order_by(t.audit_log.c.seq)
        if record_id:
            q = q.where(t.audit_log.c.record_id == record_id)
        with self.engine.connect() as conn:
            return [AuditEntry(r.seq, r.tenant, r.record_id, r.action, r.actor, r.at, json.loads(r.detail))
                    for r in conn.execute(q)]

    def versions(self, tenant: str, record_id: str) -> list[RecordVersion]:
        q = (sa.select(t.record_versions)
             .where(t.record_versions.c.tenant == tenant, t.record_versions.c.id == record_id)
             .order_by(t.record_versions.c.version))
        with self.engine.connect() as conn:
            return [RecordVersion(r.tenant, r.id, r.version, json.loads(r.data), r.content_hash, r.at, r.actor)
                    for r in conn.execute(q)]

    def note(self, tenant: str, record_id: str, action: str, actor: str, detail: dict[str, Any]) -> None:
        """An audit entry for a decision that is not itself a write (a review's approve, reject, merge)."""
        with self.engine.begin() as conn:
            self._audit(conn, tenant, record_id, action, actor, now_iso(), detail)

    @staticmethod
    def _audit(conn: Connection, tenant: str, rid: str, action: str, actor: str, at: str,
               detail: dict[str, Any]) -> None:
        conn.execute(sa.insert(t.audit_log).values(
            tenant=tenant, record_id=rid, action=action, actor=actor, at=at,
            detail=json.dumps(detail, ensure_ascii=False)))

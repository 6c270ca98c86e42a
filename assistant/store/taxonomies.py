"""Each tenant's tag taxonomy in the relational store: the source of truth, shared by every process and
API host. Every version is kept (the highest is the tenant's taxonomy), as the YAML text it was
imported as, so an export gives back the file with its comments. Parsing and validation are the
caller's (``assistant.taxonomy``); this only stores text."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import schema as t

# the audit log's record id for a tenant's taxonomy changes: no record id may hold '#'
TAXONOMY_AUDIT_ID = "#taxonomy"

_p = sa.bindparam
_VERSION = sa.select(sa.func.max(t.taxonomies.c.version)).where(t.taxonomies.c.tenant == _p("tenant"))


@dataclass(frozen=True)
class StoredTaxonomy:
    tenant: str
    version: int
    source: str  # the YAML as imported
    content_hash: str
    actor: str
    origin: str  # the file or route it came from
    created_at: str


def _row(r: Any) -> StoredTaxonomy:
    return StoredTaxonomy(r.tenant, r.version, r.source, r.content_hash, r.actor, r.origin, r.created_at)


class TaxonomyStore:
    """The ``Store``'s taxonomy methods (a mixin: ``Store`` gives the engine)."""

    engine: Engine
    # taxonomies written through this store object: a library sharing it reloads at once, without
    # waiting for its next check of the stored version
    taxonomy_writes = 0

    def taxonomy_version(self, tenant: str) -> int:
        """The tenant's current taxonomy version, 0 when it has none (one indexed query)."""
        with self.engine.connect() as conn:
            return int(conn.execute(_VERSION, {"tenant": tenant}).scalar() or 0)

    def taxonomy(self, tenant: str, version: int | None = None) -> StoredTaxonomy | None:
        """The tenant's taxonomy (or one of its earlier ``version``s); ``None`` when there is none."""
        c = t.taxonomies.c
        q = sa.select(t.taxonomies).where(c.tenant == tenant)
        q = q.where(c.version == version) if version is not None else q.order_by(c.version.desc()).limit(1)
        with self.engine.connect() as conn:
            r = conn.execute(q).first()
        return None if r is None else _row(r)

    def put_taxonomy(self, tenant: str, source: str, *, actor: str, origin: str = "",
                     at: str = "") -> tuple[StoredTaxonomy, bool]:
        """Make ``source`` the tenant's taxonomy, a new version audited in the audit log; with the same
        text as the current one nothing changes. Returns ``(the stored taxonomy, changed)``."""
        digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
        c = t.taxonomies.c
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    cur = conn.execute(sa.select(t.taxonomies).where(c.tenant == tenant)
                                       .order_by(c.version.desc()).limit(1)).first()
                    if cur is not None and cur.content_hash == digest:
                        return _row(cur), False
                    new = StoredTaxonomy(tenant, (cur.version if cur is not None else 0) + 1, source, digest, actor,
                                         origin, at or datetime.now(UTC).isoformat(timespec="seconds"))
                    conn.execute(sa.insert(t.taxonomies).values(
                        tenant=tenant, version=new.version, source=source, content_hash=digest, actor=actor,
                        origin=origin, created_at=new.created_at))
                    detail = {"version": new.version, "origin": origin, "content_hash": digest,
                              "replaced_version": cur.version if cur is not None else None}
                    conn.execute(sa.insert(t.audit_log).values(
                        tenant=tenant, record_id=TAXONOMY_AUDIT_ID, action="taxonomy", actor=actor,
                        at=new.created_at, detail=json.dumps(detail, ensure_ascii=False)))
                break
            except (sa.exc.IntegrityError, sa.exc.OperationalError):
                # another process stored a version between our read and our insert: read again
                if attempt == 2:
                    raise
        self.taxonomy_writes += 1
        return new, True

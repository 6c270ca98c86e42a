"""What drafting made of each ticket (the review queue's drafts) and the current version of each
product (what makes a case stale)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import schema as t
from .engine import now_iso

_PRODUCT_VERSIONS = sa.select(t.product_versions.c.product, t.product_versions.c.version).where(
    t.product_versions.c.tenant == sa.bindparam("tenant"))


@dataclass(frozen=True)
class StoredDraft:
    """What drafting made of a ticket (the field order is the JSON's)."""

    ticket_id: str
    case_id: str | None  # the in_review case it became; none when skipped
    status: str  # in_review | skipped | approved | rejected | merged
    reason: str  # why skipped / rejected / merged
    payload: dict[str, Any]  # sentences with sources, tags, duplicates
    created_at: str
    updated_at: str


class DraftStore:
    """The ``Store``'s draft and product-version methods (a mixin: ``Store`` gives the engine)."""

    engine: Engine

    def put_draft(self, tenant: str, ticket_id: str, *, status: str, case_id: str | None = None,
                  reason: str = "", payload: dict[str, Any] | None = None) -> None:
        """Record what drafting made of a ticket (replacing an earlier draft of the same ticket)."""
        at = now_iso()
        c = t.drafts.c
        row = {"case_id": case_id, "status": status, "reason": reason, "updated_at": at,
               "payload": json.dumps(payload or {}, ensure_ascii=False)}
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(t.drafts).where(c.tenant == tenant, c.ticket_id == ticket_id)
                                .values(**row)).rowcount
            if not done:
                conn.execute(sa.insert(t.drafts).values(tenant=tenant, ticket_id=ticket_id, created_at=at, **row))

    def set_draft_status(self, tenant: str, case_id: str, status: str, reason: str = "") -> None:
        c = t.drafts.c
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.drafts).where(c.tenant == tenant, c.case_id == case_id)
                         .values(status=status, reason=reason, updated_at=now_iso()))

    def drafts(self, tenant: str, *, status: str | None = None, ticket_id: str | None = None,
               case_id: str | None = None) -> list[StoredDraft]:
        """Drafts newest first, each with its payload parsed."""
        c = t.drafts.c
        q = sa.select(t.drafts).where(c.tenant == tenant).order_by(c.updated_at.desc(), c.ticket_id)
        if status is not None:
            q = q.where(c.status == status)
        if ticket_id is not None:
            q = q.where(c.ticket_id == ticket_id)
        if case_id is not None:
            q = q.where(c.case_id == case_id)
        with self.engine.connect() as conn:
            return [StoredDraft(r.ticket_id, r.case_id, r.status, r.reason, json.loads(r.payload), r.created_at,
                                r.updated_at) for r in conn.execute(q)]

    def set_product_version(self, tenant: str, product: str, version: str) -> None:
        c = t.product_versions.c
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t.product_versions).where(c.tenant == tenant, c.product == product))
            conn.execute(sa.insert(t.product_versions).values(tenant=tenant, product=product, version=version,
                                                              updated_at=now_iso()))

    def product_versions(self, tenant: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {r.product: r.version for r in conn.execute(_PRODUCT_VERSIONS, {"tenant": tenant})}

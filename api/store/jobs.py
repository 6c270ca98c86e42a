"""Import jobs: an upload being imported in the background, its progress and its summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.store import now_iso
from assistant.store import schema as t


@dataclass(frozen=True)
class ImportJob:
    """One job (the field order is the JSON's)."""

    id: str
    status: str  # queued | running | done | failed (and interrupted, as ``api.jobs`` reports a dead host's)
    actor: str
    total: int  # records to import
    done: int  # records imported so far
    summary: dict[str, Any]  # the ingest summary once done, else {}
    error: str
    created_at: str
    updated_at: str


class JobStore:
    """Import jobs (a mixin: ``HttpStore`` gives the engine)."""

    engine: Engine

    def add_import_job(self, job_id: str, tenant: str, actor: str, total: int) -> None:
        at = now_iso()
        with self.engine.begin() as conn:
            conn.execute(sa.insert(t.import_jobs).values(id=job_id, tenant=tenant, status="queued", actor=actor,
                                                         total=total, done=0, created_at=at, updated_at=at))

    def update_import_job(self, job_id: str, **values: Any) -> None:
        """Set ``status``, ``done``, ``summary`` (a dict) or ``error`` of a job."""
        if "summary" in values:
            values["summary"] = json.dumps(values["summary"], ensure_ascii=False)
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.import_jobs).where(t.import_jobs.c.id == job_id)
                         .values(updated_at=now_iso(), **values))

    def touch_import_jobs(self, job_ids: Sequence[str]) -> None:
        """Mark jobs as alive (their ``updated_at``): the heartbeat of the process running them."""
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.import_jobs).where(t.import_jobs.c.id.in_(list(job_ids)))
                         .values(updated_at=now_iso()))

    def import_job(self, tenant: str, job_id: str) -> ImportJob | None:
        """One job of ``tenant``; ``None`` when the tenant has no such job."""
        c = t.import_jobs.c
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(t.import_jobs).where(c.tenant == tenant, c.id == job_id)).first()
        if r is None:
            return None
        return ImportJob(r.id, r.status, r.actor, r.total, r.done, json.loads(r.summary), r.error, r.created_at,
                         r.updated_at)

"""Curated answers: the answer a reviewer wrote or corrected for a question, per tenant, every version
kept (retiring one writes a version too), with how often it answered a later question. What counts as
the same question is the caller's (``assistant.curated``); this only stores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import Conflict, InputError, NotFound
from . import schema as t
from .engine import now_iso

ACTIVE, RETIRED = "active", "retired"
ID_PREFIX = "CA-"


@dataclass(frozen=True)
class CuratedAnswer:
    """A curated answer as it stands (the field order is the JSON's)."""

    id: str
    version: int
    question: str
    answer: str
    reviewer: str  # who wrote the current version
    status: str  # active | retired
    source_answer_id: str | None  # the logged answer it corrected
    created_at: str
    updated_at: str  # when the current version was written
    hits: int  # later questions it answered
    last_hit_at: str | None


@dataclass(frozen=True)
class CuratedVersion:
    version: int
    question: str
    answer: str
    reviewer: str
    status: str
    action: str  # create | edit | retire
    reason: str
    at: str


class CuratedLog(Protocol):
    """What serving curated answers reads and counts (``assistant.curated``)."""

    def curated_answers(self, tenant: str, *, status: str | None = ACTIVE) -> list[CuratedAnswer]: ...

    def count_curated_hit(self, tenant: str, curated_id: str, at: str | None = None) -> None: ...


def _row(r: Any) -> CuratedAnswer:
    return CuratedAnswer(r.id, r.version, r.question, r.answer, r.reviewer, r.status, r.source_answer_id,
                         r.created_at, r.updated_at, int(r.hits), r.last_hit_at)


def _version_row(tenant: str, c: CuratedAnswer, action: str, reason: str) -> dict[str, Any]:
    return {"tenant": tenant, "id": c.id, "version": c.version, "question": c.question, "answer": c.answer,
            "reviewer": c.reviewer, "status": c.status, "action": action, "reason": reason, "at": c.updated_at}


class CuratedStore:
    """The ``Store``'s curated-answer methods (a mixin: ``Store`` gives the engine)."""

    engine: Engine
    curated_writes = 0  # curated answers added or changed through this store: matching reads them again at once

    def curated_answers(self, tenant: str, *, status: str | None = ACTIVE) -> list[CuratedAnswer]:
        """The tenant's curated answers (``status`` None: retired ones too), the most used first."""
        c = t.curated_answers.c
        q = sa.select(t.curated_answers).where(c.tenant == tenant).order_by(c.hits.desc(), c.created_at, c.id)
        if status is not None:
            q = q.where(c.status == status)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def curated_answer(self, tenant: str, curated_id: str) -> CuratedAnswer | None:
        with self.engine.connect() as conn:
            return self._curated(conn, tenant, curated_id)

    @staticmethod
    def _curated(conn: Connection, tenant: str, curated_id: str) -> CuratedAnswer | None:
        c = t.curated_answers.c
        r = conn.execute(sa.select(t.curated_answers).where(c.tenant == tenant, c.id == curated_id)).first()
        return None if r is None else _row(r)

    def add_curated(self, tenant: str, question: str, question_key: str, answer: str, reviewer: str, *,
                    source_answer_id: str | None = None) -> CuratedAnswer:
        """A new curated answer (version 1, active), id ``CA-<n>``. ``Conflict`` when an active one
        has the same wording key: that one is edited instead."""
        c = t.curated_answers.c
        for attempt in range(5):
            try:
                with self.engine.begin() as conn:
                    same = conn.execute(sa.select(c.id).where(c.tenant == tenant, c.status == ACTIVE,
                                                              c.question_key == question_key)).first()
                    if same is not None:
                        raise Conflict(f"{same.id} already answers this question; edit it instead "
                                         f"(casepilot curated edit {same.id})")
                    n = conn.execute(sa.select(sa.func.count()).select_from(t.curated_answers)
                                     .where(c.tenant == tenant)).scalar() or 0
                    at = now_iso()
                    new = CuratedAnswer(f"{ID_PREFIX}{n + 1}", 1, question, answer, reviewer, ACTIVE,
                                        source_answer_id, at, at, 0, None)
                    conn.execute(sa.insert(t.curated_answers).values(
                        tenant=tenant, id=new.id, version=1, question=question, question_key=question_key,
                        answer=answer, reviewer=reviewer, status=ACTIVE, source_answer_id=source_answer_id,
                        created_at=at, updated_at=at, hits=0))
                    conn.execute(sa.insert(t.curated_versions).values(_version_row(tenant, new, "create", "")))
                self.curated_writes += 1
                return new
            except (sa.exc.IntegrityError, sa.exc.OperationalError):
                if attempt == 4:  # another writer took the id between our count and our insert: count again
                    raise
        raise AssertionError("unreachable")

    def change_curated(self, tenant: str, curated_id: str, *, reviewer: str, action: str,
                       question: str | None = None, question_key: str | None = None, answer: str | None = None,
                       reason: str = "") -> CuratedAnswer:
        """A new version of a curated answer: ``action`` "edit" (a new question and/or answer) or
        "retire" (no longer served; its history stays). ``NotFound`` for an unknown id; ``InputError``
        for an unknown action; ``Conflict`` for an edit that changes nothing, a change to a retired one
        or a question another active one answers."""
        if action not in ("edit", "retire"):
            raise InputError(f"unknown change {action!r}")
        c = t.curated_answers.c
        with self.engine.begin() as conn:
            cur = self._curated(conn, tenant, curated_id)
            if cur is None:
                raise NotFound(f"no curated answer {curated_id!r} in tenant {tenant!r}")
            if cur.status == RETIRED:
                raise Conflict(f"{curated_id} is retired; add the question again to curate it anew")
            values: dict[str, Any] = {}
            if action == "edit":
                if question is not None and question != cur.question:
                    if question_key is None:
                        raise InputError("a new question needs its wording key")
                    other = conn.execute(sa.select(c.id).where(c.tenant == tenant, c.status == ACTIVE,
                                                               c.question_key == question_key,
                                                               c.id != curated_id)).first()
                    if other is not None:
                        raise Conflict(f"{other.id} already answers this question")
                    values.update(question=question, question_key=question_key)
                if answer is not None and answer != cur.answer:
                    values["answer"] = answer
                if not values:
                    raise Conflict(f"nothing to change: {curated_id} already says this")
            else:
                values["status"] = RETIRED
            at = now_iso()
            values.update(version=cur.version + 1, reviewer=reviewer, updated_at=at)
            # the version read above must still be the current one: a concurrent change fails here
            done = conn.execute(sa.update(t.curated_answers).where(
                c.tenant == tenant, c.id == curated_id, c.version == cur.version).values(**values))
            if done.rowcount != 1:
                raise Conflict(f"{curated_id} was changed meanwhile; read it again")
            new = self._curated(conn, tenant, curated_id)
            assert new is not None
            conn.execute(sa.insert(t.curated_versions).values(_version_row(tenant, new, action, reason)))
        self.curated_writes += 1
        return new

    def curated_versions(self, tenant: str, curated_id: str) -> list[CuratedVersion]:
        """Every version of a curated answer, oldest first; ``NotFound`` for an unknown id."""
        v = t.curated_versions.c
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.curated_versions).where(v.tenant == tenant, v.id == curated_id)
                                .order_by(v.version)).all()
        if not rows:
            raise NotFound(f"no curated answer {curated_id!r} in tenant {tenant!r}")
        return [CuratedVersion(r.version, r.question, r.answer, r.reviewer, r.status, r.action, r.reason, r.at)
                for r in rows]

    def count_curated_hit(self, tenant: str, curated_id: str, at: str | None = None) -> None:
        """One more question answered by the curated answer (one UPDATE; concurrent hits all count)."""
        c = t.curated_answers.c
        with self.engine.begin() as conn:
            conn.execute(sa.update(t.curated_answers).where(c.tenant == tenant, c.id == curated_id)
                         .values(hits=c.hits + 1, last_hit_at=at or now_iso()))

    def curated_hits(self, tenant: str, ids: Sequence[str] = ()) -> dict[str, int]:
        """The hit counts of the tenant's curated answers (of ``ids`` only, when given), for the desk."""
        c = t.curated_answers.c
        q = sa.select(c.id, c.hits).where(c.tenant == tenant)
        if ids:
            q = q.where(c.id.in_(list(ids)))
        with self.engine.connect() as conn:
            return {r.id: int(r.hits) for r in conn.execute(q)}

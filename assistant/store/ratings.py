"""What the ratings' prior reads (``assistant.rating_prior``): each rating with the question and the
citations of the answer it rates, and the records agents opened from answers (a weak positive)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import NotFound
from . import schema as t
from .answer_queue import AnswerQueue, logged_elsewhere, settled
from .engine import now_iso


@dataclass(frozen=True)
class Rating:
    """A rating as the prior reads it: who gave it, of which answer, and the records that answer cited."""

    id: int
    rater: str
    answer_id: str
    helpful: bool
    question: str
    cited: tuple[str, ...]


@dataclass(frozen=True)
class Open:
    """A record an agent opened from an answer (its citations or related records)."""

    id: int
    rater: str
    answer_id: str
    record_id: str
    question: str
    created_at: str = ""


class RatingSource(Protocol):
    """What the prior reads: whether anything changed (``rating_mark``), and then everything."""

    rating_writes: int

    def rating_mark(self, tenant: str) -> tuple[int, int]: ...

    def ratings(self, tenant: str) -> list[Rating]: ...

    def opens(self, tenant: str) -> list[Open]: ...


class RatingStore:
    """The ``Store``'s methods for opened records and for the prior's reading of ratings (a mixin)."""

    engine: Engine
    rating_writes: int
    answer_queue: AnswerQueue | None

    @settled
    def add_open(self, tenant: str, answer_id: str, record_id: str, *, rater: str = "") -> Open:
        """Record that ``rater`` opened ``record_id`` (a case or article of this tenant; the answer's
        related records are not logged, so any record will do) from a logged answer of this tenant.
        ``NotFound`` for an answer or a record the tenant does not have."""
        a, rc = t.answers.c, t.records.c
        q = sa.select(a.question).where(a.tenant == tenant, a.id == answer_id)
        with self.engine.connect() as conn:
            logged = conn.execute(q).first() is not None
        if not logged and not logged_elsewhere(self.engine, self.answer_queue, tenant, answer_id):
            raise NotFound(f"no answer {answer_id!r} in tenant {tenant!r}")
        with self.engine.begin() as conn:
            row = conn.execute(q).first()
            if row is None:
                raise NotFound(f"no answer {answer_id!r} in tenant {tenant!r}")
            known = conn.execute(sa.select(rc.id).where(rc.tenant == tenant, rc.id == record_id,
                                                        rc.kind.in_(("case", "article")), ~rc.deleted)).first()
            if known is None:
                raise NotFound(f"no case or article {record_id!r} in tenant {tenant!r}")
            at = now_iso()
            oid = conn.execute(sa.insert(t.answer_opens).values(
                tenant=tenant, answer_id=answer_id, record_id=record_id, rater=rater[:200],
                created_at=at)).inserted_primary_key
        self.rating_writes += 1
        return Open(oid[0] if oid else 0, rater[:200], answer_id, record_id, row.question, at)

    def rating_mark(self, tenant: str) -> tuple[int, int]:
        """The newest rating's and open's ids of the tenant (0 for none): they move whenever either is added."""
        f, o = t.feedback.c, t.answer_opens.c
        with self.engine.connect() as conn:
            rated = conn.execute(sa.select(sa.func.max(f.id)).where(f.tenant == tenant)).scalar()
            opened = conn.execute(sa.select(sa.func.max(o.id)).where(o.tenant == tenant)).scalar()
        return int(rated or 0), int(opened or 0)

    def ratings(self, tenant: str) -> list[Rating]:
        """Every rating of the tenant, oldest first, with its answer's question and cited record ids."""
        f, a = t.feedback.c, t.answers.c
        q = (sa.select(f.id, f.rater, f.answer_id, f.helpful, a.question, a.citations)
             .select_from(t.feedback.join(t.answers, sa.and_(a.id == f.answer_id, a.tenant == f.tenant)))
             .where(f.tenant == tenant).order_by(f.id))
        with self.engine.connect() as conn:
            return [Rating(r.id, r.rater, r.answer_id, bool(r.helpful), r.question,
                           tuple(dict.fromkeys(c["id"] for c in json.loads(r.citations) if c.get("id"))))
                    for r in conn.execute(q)]

    def opens(self, tenant: str) -> list[Open]:
        """Every record opened from an answer of the tenant, oldest first, with the answer's question."""
        o, a = t.answer_opens.c, t.answers.c
        q = (sa.select(o.id, o.rater, o.answer_id, o.record_id, a.question, o.created_at)
             .select_from(t.answer_opens.join(t.answers, sa.and_(a.id == o.answer_id, a.tenant == o.tenant)))
             .where(o.tenant == tenant).order_by(o.id))
        with self.engine.connect() as conn:
            return [Open(r.id, r.rater, r.answer_id, r.record_id, r.question, r.created_at) for r in conn.execute(q)]

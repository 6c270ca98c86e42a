"""What the desk's numbers (``assistant.stats``) read from the store: a few aggregate queries, grouped by
UTC day, over the answer log and its ratings, the records answers cited (``answer_citations``), the tags
records carry (``record_tags``) and the tickets' own times (``records.opened_at``); and the rows those
side tables get when an answer is logged or a record written (``cited_ids``, ``record_tags``,
``opened_at``). The same SQL runs on SQLite and PostgreSQL: days are the first ten characters of the
stored ISO times, which are UTC."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from . import schema as t

By = Literal["product", "tag"]


def cited_ids(citations: Any) -> list[str]:
    """The distinct record ids an answer's citations name (a JSON string or a list), in order."""
    items = json.loads(citations) if isinstance(citations, str) else citations
    out = [str(c["id"]) for c in items or [] if isinstance(c, Mapping) and c.get("id")]
    return list(dict.fromkeys(out))


def record_tags(data: Mapping[str, Any]) -> list[str]:
    tags = data.get("tags") or []
    return list(dict.fromkeys(str(x) for x in tags if x)) if isinstance(tags, list) else []


def opened_at(data: Mapping[str, Any], stored_at: str) -> str:
    """A ticket's time: its first message's, in UTC (a time without a zone is taken as UTC), else
    ``stored_at``, when it was first stored."""
    messages = data.get("messages") or []
    first = messages[0].get("at") if messages and isinstance(messages[0], Mapping) else None
    try:
        at = datetime.fromisoformat(str(first))
    except ValueError:
        return stored_at
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat(timespec="seconds")


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD (UTC)
    key: str  # the product or tag ('' when not grouped)
    count: int


@dataclass(frozen=True)
class DayAnswers:
    """One day's questions: how many, how many answered (not abstained), rated, rated helpful (each
    answer's newest rating)."""

    day: str
    questions: int
    answered: int
    rated: int
    helpful: int


@dataclass(frozen=True)
class RecordCount:
    """How often answers cited a record, and how agents rated those answers (newest rating each)."""

    id: str
    title: str
    kind: str
    cited: int
    helpful: int
    not_helpful: int


class DeskReads(Protocol):
    """What the desk's report reads."""

    def answer_days(self, tenant: str, since: str, until: str) -> list[DayAnswers]: ...

    def question_days(self, tenant: str, since: str, until: str, by: By | None) -> list[DayCount]: ...

    def ticket_days(self, tenant: str, since: str, until: str, by: By | None) -> list[DayCount]: ...

    def citation_counts(self, tenant: str, *, since: str | None = None, until: str | None = None,
                        latest: int | None = None) -> tuple[int, list[RecordCount]]: ...


def _day(col: Any) -> Any:
    return sa.func.substr(col, 1, 10)


def _newest_rating(tenant: str) -> Any:
    """``(answer_id, helpful)`` of each rated answer's newest rating (the highest feedback id)."""
    f = t.feedback.c
    newest = sa.select(sa.func.max(f.id).label("fid")).where(f.tenant == tenant).group_by(f.answer_id).subquery()
    return (sa.select(f.answer_id, f.helpful).select_from(t.feedback.join(newest, f.id == newest.c.fid))
            .subquery("rating"))


class DeskStore:
    """The ``Store``'s aggregate reads for the desk (a mixin: ``Store`` gives the engine)."""

    engine: Engine

    def answer_days(self, tenant: str, since: str, until: str) -> list[DayAnswers]:
        """Per UTC day in ``[since, until)``: questions, answered, rated, rated helpful."""
        a = t.answers.c
        rating = _newest_rating(tenant)
        day = _day(a.created_at).label("day")
        q = (sa.select(day, sa.func.count().label("n"),
                       sa.func.sum(sa.case((a.abstained == sa.false(), 1), else_=0)).label("answered"),
                       sa.func.count(rating.c.answer_id).label("rated"),
                       sa.func.sum(sa.case((rating.c.helpful == sa.true(), 1), else_=0)).label("helpful"))
             .select_from(t.answers.outerjoin(rating, rating.c.answer_id == a.id))
             .where(a.tenant == tenant, a.created_at >= since, a.created_at < until).group_by(day))
        with self.engine.connect() as conn:
            return [DayAnswers(r.day, r.n, int(r.answered or 0), r.rated, int(r.helpful or 0)) for r in conn.execute(q)]

    def question_days(self, tenant: str, since: str, until: str, by: By | None) -> list[DayCount]:
        """Per UTC day in ``[since, until)`` and product (or tag) of the records cited: the questions
        whose answer cited a record of it (each question once per product or tag). ``by=None``: the
        questions whose answer cited any record with a product."""
        ac, r = t.answer_citations.c, t.records.c
        day = _day(ac.created_at).label("day")
        joined = t.answer_citations.join(t.records, sa.and_(r.tenant == ac.tenant, r.id == ac.record_id))
        if by == "tag":
            rt = t.record_tags.c
            key: Any = rt.tag
            joined = t.answer_citations.join(t.record_tags, sa.and_(rt.tenant == ac.tenant,
                                                                    rt.record_id == ac.record_id))
        else:
            key = r.product if by == "product" else sa.literal("")
        q = (sa.select(day, key.label("key"), sa.func.count(sa.distinct(ac.answer_id)).label("n"))
             .select_from(joined)
             .where(ac.tenant == tenant, ac.created_at >= since, ac.created_at < until).group_by(day, key))
        if by != "tag":
            q = q.where(r.product != "")
        with self.engine.connect() as conn:
            return [DayCount(x.day, x.key, x.n) for x in conn.execute(q)]

    def ticket_days(self, tenant: str, since: str, until: str, by: By | None) -> list[DayCount]:
        """Per UTC day in ``[since, until)`` (the ticket's own time) and product or tag: the tickets.
        A ticket's tags are its own and those of the case drafted from it."""
        r = t.records.c
        day = _day(r.opened_at).label("day")
        live = sa.and_(r.tenant == tenant, r.kind == "ticket", r.deleted == sa.false(), r.opened_at >= since,
                       r.opened_at < until)
        if by == "tag":
            rt, d = t.record_tags.c, t.drafts.c
            drafted = t.drafts.join(t.record_tags, sa.and_(rt.tenant == d.tenant, rt.record_id == d.case_id))
            pairs = sa.union(
                sa.select(d.ticket_id.label("tid"), rt.tag).select_from(drafted).where(d.tenant == tenant),
                sa.select(rt.record_id.label("tid"), rt.tag).where(rt.tenant == tenant)).subquery()
            q = (sa.select(day, pairs.c.tag.label("key"), sa.func.count(sa.distinct(r.id)).label("n"))
                 .select_from(t.records.join(pairs, pairs.c.tid == r.id)).where(live).group_by(day, pairs.c.tag))
        else:
            key = r.product if by == "product" else sa.literal("")
            q = sa.select(day, key.label("key"), sa.func.count().label("n")).where(live).group_by(day, key)
        with self.engine.connect() as conn:
            return [DayCount(x.day, x.key, x.n) for x in conn.execute(q)]

    def citation_counts(self, tenant: str, *, since: str | None = None, until: str | None = None,
                        latest: int | None = None) -> tuple[int, list[RecordCount]]:
        """The answers counted (logged in ``[since, until)``, or the ``latest`` newest), and for each live
        record they cited: how often, and how those answers were rated."""
        a, ac, r = t.answers.c, t.answer_citations.c, t.records.c
        rating = _newest_rating(tenant)
        counted = sa.select(a.id).where(a.tenant == tenant)
        cites = [ac.tenant == tenant]
        if since is not None:
            counted, cites = counted.where(a.created_at >= since), [*cites, ac.created_at >= since]
        if until is not None:
            counted, cites = counted.where(a.created_at < until), [*cites, ac.created_at < until]
        if latest is not None:
            counted = counted.order_by(a.created_at.desc()).limit(latest)
            cites.append(ac.answer_id.in_(counted))
        live = sa.and_(r.tenant == ac.tenant, r.id == ac.record_id, r.deleted == sa.false())
        q = (sa.select(ac.record_id, r.title, r.kind, sa.func.count().label("cited"),
                       sa.func.sum(sa.case((rating.c.helpful == sa.true(), 1), else_=0)).label("helpful"),
                       sa.func.sum(sa.case((rating.c.helpful == sa.false(), 1), else_=0)).label("not_helpful"))
             .select_from(t.answer_citations.join(t.records, live)
                          .outerjoin(rating, rating.c.answer_id == ac.answer_id))
             .where(*cites).group_by(ac.record_id, r.title, r.kind))
        with self.engine.connect() as conn:
            answers = conn.execute(sa.select(sa.func.count()).select_from(counted.subquery())).scalar_one()
            rows = [RecordCount(x.record_id, x.title, x.kind, x.cited, int(x.helpful or 0), int(x.not_helpful or 0))
                    for x in conn.execute(q)]
        return answers, rows

"""What the desk's numbers (``assistant.stats``) read from the store: a few aggregate queries, by UTC day,
over the questions counted per day (``question_days``: asked, answered, rated and rated helpful, and by
the products and tags their answers cited; kept as answers are logged and rated, so that a report reads
a few hundred rows, not every answer), the records answers cited with each answer's newest rating
(``answer_citations``), and the tickets with their own times (``records.opened_at``) and tags
(``record_tags``, their own and their case's).

Also the rows those tables get when an answer is logged, rated, or a record written (``count_questions``,
``set_rating``, ``cited_ids``, ``record_tags``, ``opened_at``). The same SQL runs on SQLite and
PostgreSQL: days are the first ten characters of the stored ISO times, which are UTC."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from ..text import product_key
from . import schema as t
from .answer_queue import AnswerQueue, settled
from .curated import CuratedAnswer

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

    def titles(self, tenant: str, record_ids: Sequence[str]) -> dict[str, tuple[str, str]]: ...

    def flagged_count(self, tenant: str, since: str | None = None) -> int: ...

    def curated_answers(self, tenant: str, *, status: str | None = ...) -> list[CuratedAnswer]: ...


def _day(col: Any) -> Any:
    return sa.func.substr(col, 1, 10)


def _add(conn: Connection, tenant: str, counts: Mapping[tuple[str, str, str], int]) -> None:
    """Add ``counts`` (``(dim, day, key) -> n``) to ``question_days`` (an upsert, SQLite or PostgreSQL)."""
    rows = [{"tenant": tenant, "dim": d, "day": day, "key": k, "n": n} for (d, day, k), n in counts.items() if n]
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    ins = dialect.insert(t.question_days)
    conn.execute(ins.on_conflict_do_update(index_elements=["tenant", "dim", "day", "key"],
                                           set_={"n": t.question_days.c.n + ins.excluded.n}), rows)


def count_questions(conn: Connection, tenant: str, answers: Sequence[Mapping[str, Any]]) -> None:
    """Add logged answers (``id``, ``created_at``, ``citations``, ``abstained``, ``helpful`` when known)
    to ``question_days``: each as ``asked``, ``answered`` unless it abstained, ``rated`` and ``helpful``
    by its rating; once per product and per tag of the records it cited (as they are now), and once as
    ``attributed`` when any of those records has a product."""
    cited = {a["id"]: cited_ids(a.get("citations") or "[]") for a in answers}
    ids = sorted({rid for rids in cited.values() for rid in rids})
    r, rt = t.records.c, t.record_tags.c
    product: dict[str, str] = {}
    tags: dict[str, list[str]] = {}
    if ids:
        product = {x.id: x.product for x in conn.execute(sa.select(r.id, r.product).where(r.tenant == tenant,
                                                                                          r.id.in_(ids)))}
        for rid, tag in conn.execute(sa.select(rt.record_id, rt.tag).where(rt.tenant == tenant,
                                                                          rt.record_id.in_(ids))):
            tags.setdefault(rid, []).append(tag)
    counts: Counter[tuple[str, str, str]] = Counter()
    for a in answers:
        day = str(a["created_at"])[:10]
        counts[("asked", day, "")] += 1
        counts[("answered", day, "")] += not a.get("abstained")
        counts[("rated", day, "")] += a.get("helpful") is not None
        counts[("helpful", day, "")] += bool(a.get("helpful"))
        products: dict[str, str] = {}  # spellings of one product (雲賬通, 云账通) count the question once
        for x in cited[a["id"]]:
            if product.get(x):
                products.setdefault(product_key(product[x]), product[x])
        counts.update(("product", day, p) for p in products.values())
        counts.update(("tag", day, tag) for tag in {tag for x in cited[a["id"]] for tag in tags.get(x, ())})
        counts[("attributed", day, "")] += bool(products)
    _add(conn, tenant, counts)


def set_rating(conn: Connection, tenant: str, answer_id: str, helpful: bool) -> None:
    """Make ``helpful`` the answer's current rating, on the answer and on its citations, and move the
    day's ``rated`` / ``helpful`` counts by the change."""
    a = t.answers.c
    old = conn.execute(sa.select(a.helpful, a.created_at).where(a.tenant == tenant, a.id == answer_id)).first()
    if old is None:
        return
    for table in (t.answers, t.answer_citations):
        key = table.c.id if table is t.answers else table.c.answer_id
        conn.execute(sa.update(table).where(table.c.tenant == tenant, key == answer_id).values(helpful=helpful))
    day = str(old.created_at)[:10]
    was = None if old.helpful is None else bool(old.helpful)
    _add(conn, tenant, {("rated", day, ""): int(was is None), ("helpful", day, ""): int(helpful) - int(was is True)})


class DeskStore:
    """The ``Store``'s aggregate reads for the desk (a mixin: ``Store`` gives the engine)."""

    engine: Engine
    answer_queue: AnswerQueue | None

    @settled
    def answer_days(self, tenant: str, since: str, until: str) -> list[DayAnswers]:
        """Per UTC day in ``[since, until)``: questions, answered, rated, rated helpful."""
        q = t.question_days.c
        per: dict[str, dict[str, int]] = {}
        dims = ("asked", "answered", "rated", "helpful")
        sel = sa.select(q.day, q.dim, q.n).where(q.tenant == tenant, q.dim.in_(dims), q.day >= since, q.day < until)
        with self.engine.connect() as conn:
            for x in conn.execute(sel):
                per.setdefault(x.day, {})[x.dim] = x.n
        return [DayAnswers(day, n.get("asked", 0), n.get("answered", 0), n.get("rated", 0), n.get("helpful", 0))
                for day, n in sorted(per.items())]

    @settled
    def question_days(self, tenant: str, since: str, until: str, by: By | None) -> list[DayCount]:
        """Per UTC day in ``[since, until)`` and product (or tag): the questions whose answer cited a
        record of it. ``by=None``: the questions whose answer cited any record with a product."""
        q = t.question_days.c
        sel = sa.select(q.day, q.key, q.n).where(q.tenant == tenant, q.dim == (by or "attributed"), q.day >= since,
                                                 q.day < until)
        with self.engine.connect() as conn:
            return [DayCount(x.day, x.key, x.n) for x in conn.execute(sel)]

    def ticket_days(self, tenant: str, since: str, until: str, by: By | None) -> list[DayCount]:
        """Per UTC day in ``[since, until)`` (the ticket's own time) and product or tag: the tickets.
        A ticket's tags are its own and those of the case drafted from it."""
        r = t.records.c
        day = _day(r.opened_at).label("day")
        live = sa.and_(r.tenant == tenant, r.kind == "ticket", r.deleted == sa.false(), r.opened_at >= since,
                       r.opened_at < until)
        if by != "tag":
            key = r.product if by == "product" else sa.literal("")
            q = sa.select(day, key.label("key"), sa.func.count().label("n")).where(live).group_by(day, key)
            with self.engine.connect() as conn:
                return [DayCount(x.day, x.key, x.n) for x in conn.execute(q)]
        rt, d = t.record_tags.c, t.drafts.c
        own = (sa.select(day, r.id, rt.tag).select_from(t.records.join(
            t.record_tags, sa.and_(rt.tenant == r.tenant, rt.record_id == r.id))).where(live))
        drafted = (sa.select(day, r.id, rt.tag).select_from(
            t.records.join(t.drafts, sa.and_(d.tenant == r.tenant, d.ticket_id == r.id))
            .join(t.record_tags, sa.and_(rt.tenant == d.tenant, rt.record_id == d.case_id))).where(live))
        with self.engine.connect() as conn:
            pairs = {(x.day, x.id, x.tag) for q in (own, drafted) for x in conn.execute(q)}
        counts = Counter((day_, tag) for day_, _, tag in pairs)
        return [DayCount(day_, tag, n) for (day_, tag), n in counts.items()]

    def titles(self, tenant: str, record_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """``id -> (title, kind)`` of those of ``record_ids`` the tenant holds."""
        r = t.records.c
        if not record_ids:
            return {}
        with self.engine.connect() as conn:
            return {x.id: (x.title, x.kind) for x in conn.execute(
                sa.select(r.id, r.title, r.kind).where(r.tenant == tenant, r.id.in_(list(record_ids))))}

    @settled
    def citation_counts(self, tenant: str, *, since: str | None = None, until: str | None = None,
                        latest: int | None = None) -> tuple[int, list[RecordCount]]:
        """The answers counted (logged in ``[since, until)``, or the ``latest`` newest), and for each live
        record they cited: how often, and how those answers were rated (each answer's newest rating).
        Titles and kinds are left empty: ``titles`` reads them for the few records shown."""
        a, ac, r = t.answers.c, t.answer_citations.c, t.records.c
        counted = sa.select(a.id).where(a.tenant == tenant)
        cites = [ac.tenant == tenant]
        if since is not None:
            counted, cites = counted.where(a.created_at >= since), [*cites, ac.created_at >= since]
        if until is not None:
            counted, cites = counted.where(a.created_at < until), [*cites, ac.created_at < until]
        if latest is not None:
            counted = counted.order_by(a.created_at.desc()).limit(latest)
            cites.append(ac.answer_id.in_(counted))
        per = (sa.select(ac.record_id, sa.func.count().label("cited"),
                         sa.func.sum(sa.case((ac.helpful == sa.true(), 1), else_=0)).label("helpful"),
                         sa.func.sum(sa.case((ac.helpful == sa.false(), 1), else_=0)).label("not_helpful"))
               .where(*cites).group_by(ac.record_id))
        gone = sa.select(r.id).where(r.tenant == tenant, r.deleted == sa.true())
        with self.engine.connect() as conn:
            answers = conn.execute(sa.select(sa.func.count()).select_from(counted.subquery())).scalar_one()
            deleted = set(conn.execute(gone).scalars())
            rows = [RecordCount(x.record_id, "", "", x.cited, int(x.helpful or 0), int(x.not_helpful or 0))
                    for x in conn.execute(per) if x.record_id not in deleted]
        return answers, rows

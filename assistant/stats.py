"""The desk's numbers (hot spots): question and ticket volume by product, tag and ISO week, each against
the period of the same length before; the share of questions answered without abstaining and the share
of rated answers rated helpful, week by week; and the most-cited and lowest-rated records, the one
definition ``casepilot stats``, ``GET /v1/stats``, ``GET /v1/library/stats`` and the console share.

A question belongs to a product or tag through the records its answer cited (a question citing two
products counts once for each; an abstention cites nothing and belongs to none: ``unattributed``). A
ticket belongs to its own product, and to its own tags and those of the case drafted from it; it is
counted in the week of its first message. Periods are whole UTC days ending today (docs/desk.md).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .errors import InputError
from .store.desk import By, DayCount, DeskReads, RecordCount
from .text import product_key

DEFAULT_DAYS = 28
MAX_DAYS = 366


@dataclass(frozen=True)
class Week:
    """One ISO week of the period, cut to the period's days (``days`` < 7 at its ends)."""

    week: str  # 2026-W49
    start: str  # the first day counted, YYYY-MM-DD
    end: str  # the last day counted
    days: int


@dataclass(frozen=True)
class Volume:
    """A count over the period, the count over the period before, and the period's count week by week."""

    name: str
    count: int
    previous: int
    weekly: tuple[int, ...]

    @property
    def change(self) -> int:
        return self.count - self.previous

    @property
    def change_pct(self) -> float | None:
        return None if not self.previous else round(100.0 * self.change / self.previous, 1)


@dataclass(frozen=True)
class Rate:
    """A share (0..1, 3 decimals) over the period, the period before, and week by week; None where
    nothing was counted."""

    current: float | None
    previous: float | None
    weekly: tuple[float | None, ...]


@dataclass(frozen=True)
class Ranking:
    answers: int  # the answers counted
    most_cited: list[RecordCount]
    lowest_rated: list[RecordCount]  # rated records, the largest not-helpful share first


@dataclass(frozen=True)
class CuratedUse:
    id: str
    question: str
    hits: int
    last_hit_at: str | None


@dataclass
class DeskReport:
    tenant: str
    days: int
    since: str  # the period's first day (UTC)
    until: str  # its last day
    previous_since: str
    previous_until: str
    weeks: list[Week]
    questions: Volume
    answered: Volume
    rated: Volume
    helpful: Volume
    answered_rate: Rate
    helpful_rate: Rate
    questions_unattributed: Volume
    questions_by_product: list[Volume]
    questions_by_tag: list[Volume]
    tickets: Volume
    tickets_by_product: list[Volume]
    tickets_by_tag: list[Volume]
    ranking: Ranking
    groups: dict[str, int] = field(default_factory=dict)  # how many products / tags each list had before its cut
    flagged: int = 0  # answers of the period flagged for promising what their sources do not (assistant.promises)
    curated: list[CuratedUse] = field(default_factory=list)  # the active curated answers, most used first
    curated_hits: int = 0  # questions they answered, in all


def rank_records(reads: DeskReads, tenant: str, *, since: str | None = None, until: str | None = None,
                 latest: int | None = None, limit: int = 10) -> Ranking:
    """The most-cited records (most citations first) and the lowest-rated (largest not-helpful share of
    their rated answers first, then most not helpful), over the answers of ``[since, until)`` or the
    ``latest`` newest; records since deleted are left out."""
    answers, rows = reads.citation_counts(tenant, since=since, until=until, latest=latest)
    most = sorted(rows, key=lambda r: (-r.cited, r.id))[:limit]
    rated = [r for r in rows if r.helpful + r.not_helpful]
    low = sorted(rated, key=lambda r: (-r.not_helpful / (r.helpful + r.not_helpful), -r.not_helpful, r.id))[:limit]
    named = reads.titles(tenant, sorted({r.id for r in most + low}))

    def titled(rs: list[RecordCount]) -> list[RecordCount]:
        return [replace(r, title=named[r.id][0], kind=named[r.id][1]) for r in rs if r.id in named]

    return Ranking(answers, titled(most), titled(low))


def period_weeks(since: date, until: date) -> list[Week]:
    """The ISO weeks of the days ``[since, until)``, in order, each cut to those days."""
    weeks: list[Week] = []
    day = since
    while day < until:
        year, num, weekday = day.isocalendar()
        end = min(day + timedelta(days=7 - weekday), until - timedelta(days=1))
        weeks.append(Week(f"{year}-W{num:02d}", day.isoformat(), end.isoformat(), (end - day).days + 1))
        day = end + timedelta(days=1)
    return weeks


def _week_index(weeks: Sequence[Week]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, w in enumerate(weeks):
        day = date.fromisoformat(w.start)
        for _ in range(w.days):
            out[day.isoformat()] = i
            day += timedelta(days=1)
    return out


def _volumes(current: Iterable[DayCount], previous: Iterable[DayCount], weeks: Sequence[Week],
             fold: Any = None) -> list[Volume]:
    """One ``Volume`` per key (``fold`` makes spellings of one key one, shown in its commonest
    spelling), the largest first."""
    index = _week_index(weeks)
    folded: dict[str, str] = {}  # each spelling folded once

    def key(raw: str) -> str:
        if raw not in folded:
            folded[raw] = fold(raw) if fold else raw
        return folded[raw]

    spellings: dict[str, Counter[str]] = {}
    now: dict[str, list[int]] = {}
    before: Counter[str] = Counter()
    for row in current:
        k = key(row.key)
        spellings.setdefault(k, Counter())[row.key] += row.count
        if row.day in index:
            now.setdefault(k, [0] * len(weeks))[index[row.day]] += row.count
    for row in previous:
        k = key(row.key)
        spellings.setdefault(k, Counter())[row.key] += 0
        before[k] += row.count
    out = [Volume(spellings[k].most_common(1)[0][0], sum(now.get(k, ())), before[k],
                  tuple(now.get(k, [0] * len(weeks)))) for k in spellings]
    return sorted(out, key=lambda v: (-v.count, -v.previous, v.name))


def _total(name: str, current: Iterable[tuple[str, int]], previous: Iterable[tuple[str, int]],
           weeks: Sequence[Week]) -> Volume:
    rows = _volumes([DayCount(d, "", n) for d, n in current], [DayCount(d, "", n) for d, n in previous], weeks)
    return Volume(name, rows[0].count, rows[0].previous, rows[0].weekly) if rows else Volume(
        name, 0, 0, (0,) * len(weeks))


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _rate(part: Volume, whole: Volume) -> Rate:
    return Rate(_share(part.count, whole.count), _share(part.previous, whole.previous),
                tuple(_share(p, w) for p, w in zip(part.weekly, whole.weekly, strict=True)))


def _minus(a: Volume, b: Volume, name: str) -> Volume:
    return Volume(name, a.count - b.count, a.previous - b.previous,
                  tuple(x - y for x, y in zip(a.weekly, b.weekly, strict=True)))


def desk_report(reads: DeskReads, tenant: str, *, days: int = DEFAULT_DAYS, today: date | None = None,
                limit: int = 10) -> DeskReport:
    """The desk's numbers for the ``days`` UTC days ending ``today`` (default: today), against the
    ``days`` before; at most ``limit`` products, tags and records in each list."""
    if not 1 <= days <= MAX_DAYS:
        raise InputError(f"days is 1 to {MAX_DAYS}")
    if limit < 1:
        raise InputError("limit is 1 or more")
    until = (today or datetime.now(UTC).date()) + timedelta(days=1)
    since = until - timedelta(days=days)
    previous_since = since - timedelta(days=days)
    weeks = period_weeks(since, until)
    cut = since.isoformat()
    span = (previous_since.isoformat(), until.isoformat())  # both periods in one read, parted by day

    def parted(rows: Sequence[Any]) -> tuple[list[Any], list[Any]]:
        return [r for r in rows if r.day >= cut], [r for r in rows if r.day < cut]

    now_days, before_days = parted(reads.answer_days(tenant, *span))

    def total(name: str) -> Volume:
        return _total(name, ((d.day, getattr(d, name)) for d in now_days),
                      ((d.day, getattr(d, name)) for d in before_days), weeks)

    questions, answered, rated, helpful = (total(n) for n in ("questions", "answered", "rated", "helpful"))

    def grouped(read: Any, by: By | None) -> list[Volume]:
        return _volumes(*parted(read(tenant, *span, by)), weeks, product_key if by == "product" else None)

    attributed = grouped(reads.question_days, None)
    unattributed = _minus(questions, attributed[0], "unattributed") if attributed else Volume(
        "unattributed", questions.count, questions.previous, questions.weekly)
    lists = {"questions_by_product": grouped(reads.question_days, "product"),
             "questions_by_tag": grouped(reads.question_days, "tag"),
             "tickets_by_product": grouped(reads.ticket_days, "product"),
             "tickets_by_tag": grouped(reads.ticket_days, "tag")}
    tickets = grouped(reads.ticket_days, None)
    used = sorted((CuratedUse(c.id, c.question, c.hits, c.last_hit_at) for c in reads.curated_answers(tenant)),
                  key=lambda u: (-u.hits, u.id))
    return DeskReport(
        tenant=tenant, days=days, since=since.isoformat(), until=(until - timedelta(days=1)).isoformat(),
        previous_since=previous_since.isoformat(), previous_until=(since - timedelta(days=1)).isoformat(),
        weeks=weeks, questions=questions, answered=answered, rated=rated, helpful=helpful,
        answered_rate=_rate(answered, questions), helpful_rate=_rate(helpful, rated),
        questions_unattributed=unattributed,
        tickets=Volume("tickets", tickets[0].count, tickets[0].previous, tickets[0].weekly) if tickets else Volume(
            "tickets", 0, 0, (0,) * len(weeks)),
        ranking=rank_records(reads, tenant, since=cut, until=span[1], limit=limit),
        groups={k: len(v) for k, v in lists.items()},
        flagged=reads.flagged_count(tenant, since=cut), curated=used[:limit], curated_hits=sum(u.hits for u in used),
        **{k: v[:limit] for k, v in lists.items()},
    )


def volume_dict(v: Volume, named: bool = True) -> dict[str, Any]:
    out = {"name": v.name} if named else {}
    return {**out, "count": v.count, "previous": v.previous, "change": v.change, "change_pct": v.change_pct,
            "weekly": list(v.weekly)}


def report_dict(r: DeskReport) -> dict[str, Any]:
    """The report as ``casepilot stats --json`` and ``GET /v1/stats`` give it."""
    lists = ("questions_by_product", "questions_by_tag", "tickets_by_product", "tickets_by_tag")
    return {
        "tenant": r.tenant, "days": r.days, "since": r.since, "until": r.until,
        "previous_since": r.previous_since, "previous_until": r.previous_until,
        "weeks": [asdict(w) for w in r.weeks],
        **{k: volume_dict(getattr(r, k), named=False)
           for k in ("questions", "answered", "rated", "helpful", "questions_unattributed", "tickets")},
        "answered_rate": {**asdict(r.answered_rate), "weekly": list(r.answered_rate.weekly)},
        "helpful_rate": {**asdict(r.helpful_rate), "weekly": list(r.helpful_rate.weekly)},
        **{k: [volume_dict(v) for v in getattr(r, k)] for k in lists},
        "groups": dict(r.groups),
        "answers_ranked": r.ranking.answers,
        "most_cited": [asdict(x) for x in r.ranking.most_cited],
        "lowest_rated": [asdict(x) for x in r.ranking.lowest_rated],
        "flagged_answers": r.flagged,
        "curated_hits": r.curated_hits,
        "curated": [asdict(u) for u in r.curated],
    }

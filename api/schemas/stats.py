"""``GET /v1/stats``: the desk's hot spots (``assistant.stats.report_dict``), for the console's Desk screen."""

from __future__ import annotations

from pydantic import BaseModel, Field

from .console import RankedCaseOut


class WeekOut(BaseModel):
    week: str = Field(description="the ISO week, e.g. 2026-W49")
    start: str = Field(description="its first day in the period (YYYY-MM-DD, UTC)")
    end: str = Field(description="its last day in the period")
    days: int = Field(description="days of the week in the period (fewer than 7 at the period's ends)")


class TotalOut(BaseModel):
    count: int = Field(description="in the period")
    previous: int = Field(description="in the period of the same length before it")
    change: int
    change_pct: float | None = Field(description="the change in percent of `previous`; null when that is 0")
    weekly: list[int] = Field(description="the period's count in each of `weeks`")


class VolumeOut(TotalOut):
    name: str = Field(description="the product (its commonest spelling) or the tag")


class RateOut(BaseModel):
    current: float | None = Field(description="0..1 over the period; null when nothing was counted")
    previous: float | None
    weekly: list[float | None]


class CuratedUseOut(BaseModel):
    id: str
    question: str
    hits: int
    last_hit_at: str | None


class StatsOut(BaseModel):
    tenant: str
    days: int
    since: str = Field(description="the period's first day (UTC)")
    until: str = Field(description="its last day: today")
    previous_since: str
    previous_until: str
    weeks: list[WeekOut]
    questions: TotalOut = Field(description="questions asked (every logged answer)")
    answered: TotalOut = Field(description="questions answered without abstaining")
    rated: TotalOut = Field(description="answers rated (each answer's newest rating)")
    helpful: TotalOut = Field(description="answers whose newest rating is helpful")
    questions_unattributed: TotalOut = Field(description="questions whose answer cited no record with a product")
    tickets: TotalOut = Field(description="tickets, by their first message's time")
    answered_rate: RateOut = Field(description="answered / questions")
    helpful_rate: RateOut = Field(description="helpful / rated")
    questions_by_product: list[VolumeOut] = Field(
        description="questions whose answer cited a record of the product, largest first")
    questions_by_tag: list[VolumeOut]
    tickets_by_product: list[VolumeOut]
    tickets_by_tag: list[VolumeOut] = Field(description="a ticket's own tags and those of the case drafted from it")
    groups: dict[str, int] = Field(description="how many products or tags each list had before `limit` cut it")
    answers_ranked: int = Field(description="the answers of the period the two lists below count")
    most_cited: list[RankedCaseOut]
    lowest_rated: list[RankedCaseOut] = Field(description="rated records, most not-helpful share first")
    flagged_answers: int = Field(description="answers of the period flagged for promising what their cited "
                                             "sources do not say (docs/promises.md)")
    curated_hits: int = Field(description="questions the active curated answers have answered, in all")
    curated: list[CuratedUseOut] = Field(description="the active curated answers, most used first (docs/curated.md)")

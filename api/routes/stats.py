"""``GET /v1/stats``: the desk's hot spots for the key's tenant (``assistant.stats``; docs/desk.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from assistant.stats import DEFAULT_DAYS, MAX_DAYS, desk_report, report_dict

from ..auth import Reviewer
from ..deps import State
from ..schemas.stats import StatsOut
from . import ERRORS

router = APIRouter(prefix="/v1", tags=["console"])


@router.get("/stats", summary="Hot spots: question and ticket volume by product, tag and ISO week against the period "
            "before, answered and helpful rates by week, the most-cited and lowest-rated records",
            response_model=StatsOut, responses=ERRORS)
def stats(p: Reviewer, st: State,
          days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="the period: this many UTC days, today "
                                                                    "included")] = DEFAULT_DAYS,
          limit: Annotated[int, Query(ge=1, le=100, description="products, tags and records in each list")] = 10,
          ) -> StatsOut:
    # aggregate reads of the store only: no tenant lock, no index
    return StatsOut.model_validate(report_dict(desk_report(st.store, p.tenant, days=days, limit=limit)))

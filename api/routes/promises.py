"""The answers flagged for promising what their sources do not say (docs/promises.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from assistant.promises import flagged_report

from ..auth import Reviewer
from ..deps import State
from ..schemas.promises import FlaggedOut
from . import ERRORS

router = APIRouter(prefix="/v1", tags=["answers"])


@router.get("/answers/flagged", summary="The answers of a period that commit to a refund, compensation, a "
            "deadline, a legal or medical statement or a guarantee their sources do not make: the count, the "
            "flags by category, the newest answers with their flags", response_model=FlaggedOut, responses=ERRORS)
def flagged(p: Reviewer, st: State, days: Annotated[int, Query(ge=1, le=366)] = 30,
            limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> FlaggedOut:
    return FlaggedOut.model_validate(flagged_report(st.store, p.tenant, days=days, limit=limit))

"""What routes receive: the app's state, the caller's tenant, and the request checks they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request
from pydantic import AfterValidator

from assistant.errors import QuestionTooLong
from assistant.index.filters import Filters
from assistant.settings import Settings
from assistant.store import Store, StoredRecord
from assistant.types import SERVED_STATUSES

from .auth import Principal, RateLimiter
from .config import ApiSettings
from .fairness import FairShare
from .metrics import Metrics
from .problems import Problem
from .schemas.answers import AnswerFilters, Turn
from .schemas.common import ID_DOC, ID_SCHEMA, valid_id
from .schemas.records import SearchFilters
from .store import HttpStore
from .tenants import Tenants

# a record id in a path, checked and NFC-normalised like every id (a look-alike is a 422)
PathId = Annotated[str, Path(min_length=1, max_length=200, description=ID_DOC, json_schema_extra=ID_SCHEMA),
                   AfterValidator(valid_id)]


@dataclass
class AppState:
    settings: Settings
    api: ApiSettings
    tenants: Tenants
    metrics: Metrics
    limiter: RateLimiter
    jobs: object  # api.jobs.ImportJobs (typed loosely: jobs imports this module)
    fair: FairShare

    @property
    def store(self) -> Store:
        return self.tenants.store

    @property
    def http(self) -> HttpStore:
        return self.tenants.http


# The checks below only read the request, so they are coroutines: FastAPI runs a plain function
# dependency in its thread pool, a hop per dependency per request.


async def get_state(request: Request) -> AppState:
    st = request.app.state.casepilot
    assert isinstance(st, AppState)
    return st


State = Annotated[AppState, Depends(get_state)]


async def reject_unknown_query(request: Request) -> None:
    """Unknown query parameters are refused, like unknown body fields (``?tenant=B`` is a 422, not ignored)."""
    allowed: set[str] = set()
    todo = [getattr(request.scope.get("route"), "dependant", None)]
    while todo:
        d = todo.pop()
        if d is not None:
            allowed |= {p.alias for p in d.query_params}
            todo.extend(d.dependencies)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise Problem(422, "validation_error", f"unknown query parameter(s): {', '.join(unknown)[:200]}")


def check_question(question: str, settings: Settings) -> str:
    q = question.strip()
    if not q:
        raise Problem(422, "validation_error", "the question is empty")
    if len(q) > settings.max_question_chars:
        raise Problem(422, "question_too_long", str(QuestionTooLong(len(q), settings.max_question_chars)))
    return q


def check_conversation(turns: list[Turn], api: ApiSettings) -> list[dict[str, str]]:
    if len(turns) > api.max_conversation_turns:
        raise Problem(422, "conversation_too_long",
                      f"the conversation has {len(turns)} turns; the limit is {api.max_conversation_turns}")
    for i, t in enumerate(turns):
        if len(t.text) > api.max_turn_chars:
            raise Problem(422, "conversation_too_long",
                          f"turn {i} is {len(t.text)} characters; the limit is {api.max_turn_chars}")
    return [{"role": t.role, "text": t.text} for t in turns]


def to_filters(f: SearchFilters | AnswerFilters | None, principal: Principal) -> Filters | None:
    """The library's filters. A tenant never appears here: the library is the key's tenant's."""
    if f is None:
        return None
    statuses: tuple[str, ...] = SERVED_STATUSES
    if isinstance(f, SearchFilters) and f.status:
        if not principal.may("reviewer"):
            raise Problem(403, "forbidden", "only reviewer and admin keys may search other statuses than "
                          "approved and published")
        statuses = () if "any" in f.status else tuple(f.status)
    return Filters(kinds=tuple(f.kind), statuses=statuses, products=tuple(f.product), tags=tuple(f.tag),
                   record_ids=tuple(f.id))


def readable_record(record_id: str, principal: Principal, st: AppState) -> StoredRecord:
    """The case or article ``record_id`` of the key's tenant as the key may read it (agents: approved
    cases and published articles only), else a 404."""
    rec = st.store.get(principal.tenant, record_id)
    if rec is None or rec.kind not in ("case", "article") or (
            not principal.may("reviewer") and rec.status not in SERVED_STATUSES):
        raise Problem(404, "not_found", f"no case or article {record_id!r} in this tenant")
    return rec

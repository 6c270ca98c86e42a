"""The library's knowledge gaps: the questions it abstained on, newest first, one ``Gap`` each. This is
the row ``casepilot gaps --json``, ``GET /v1/gaps`` and the web console's table show."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class AnswerLog(Protocol):
    """What the gaps are read from: the store's log of answers."""

    def answers(self, tenant: str, *, abstained: bool | None = None, limit: int = 100) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Gap:
    question: str
    at: str  # when it was asked (ISO 8601, UTC)
    ticket: str | None  # the ticket it was asked about, if any
    support: float  # how well the best records supported an answer, 3 decimals


def unanswered(log: AnswerLog, tenant: str, limit: int) -> list[Gap]:
    """The ``limit`` newest questions of ``tenant`` that the library could not answer."""
    return [Gap(question=r["question"], at=r["created_at"], ticket=r["ticket_id"], support=round(r["support"], 3))
            for r in log.answers(tenant, abstained=True, limit=limit)]

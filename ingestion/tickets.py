"""One ticket from a helpdesk, as it closes (``POST /v1/tickets``): stored (redacted, like any import),
and drafted for review at once when its status is closed, solved or resolved, with no batch job.

A ticket posted again is stored again (a new version when it changed); it is drafted again only while
its draft waits for review (or was skipped), never after a reviewer decided it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assistant.library import Library
from assistant.review import Review

from .pipeline import Ingestor

CLOSED = ("closed", "solved", "resolved")


@dataclass
class TicketOutcome:
    ticket_id: str
    stored: str  # added | updated | unchanged
    status: str
    drafted: str  # drafted | skipped | not_closed | already_drafted | already_decided
    case_id: str | None = None
    reason: str = ""
    redacted: dict[str, int] = field(default_factory=dict)
    internal_notes: int = 0  # kept with the ticket, left out of the draft

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def receive(lib: Library, ticket: Any, actor: str) -> TicketOutcome:
    """Store ``ticket`` (an ``assistant.types.Ticket``) in ``lib``'s tenant and draft it if it is closed."""
    summary = Ingestor(lib, actor=actor).ingest_records([ticket])
    stored = "added" if summary.added else "updated" if summary.updated else "unchanged"
    out = TicketOutcome(ticket.id, stored, ticket.status, "not_closed", redacted=dict(summary.redacted),
                        internal_notes=sum(m.internal for m in ticket.messages))
    if ticket.status not in CLOSED:
        out.reason = f"the ticket is {ticket.status}; it is drafted when it is closed or solved"
        return out
    earlier = lib.store.drafts(lib.tenant, ticket_id=ticket.id)
    if earlier:
        state = earlier[0].status
        if state not in ("in_review", "skipped"):
            out.drafted, out.case_id = "already_decided", earlier[0].case_id
            out.reason = f"its draft was {state}; it is not drafted again"
            return out
        if stored == "unchanged":  # the same ticket again (a retried webhook): nothing new to draft
            out.drafted, out.case_id, out.reason = "already_drafted", earlier[0].case_id, earlier[0].reason
            return out
    draft, case_id = Review(lib, writer=Ingestor, actor=actor).draft(ticket.id)
    out.case_id = case_id
    out.drafted = "drafted" if case_id else "skipped"
    out.reason = draft.skipped or ""
    return out

"""What agents actually replied in the tickets a gap group's questions came from: for each stored
ticket, its agents' messages after the customer's question, each without the filler drafting removes
(greetings, waiting, apologies, rating requests: ``drafting.cues.split_message``). This is what a
knowledge manager reads to write the missing article, and what ``assistant.gap_drafts`` drafts from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .drafting.cues import split_message
from .store.records import StoredRecord

# tickets read for one group: a group asked about in hundreds of tickets needs no more to be written
MAX_TICKETS = 20


class TicketReader(Protocol):
    def get_many(self, tenant: str, record_ids: Sequence[str]) -> dict[str, StoredRecord]: ...


@dataclass(frozen=True)
class Reply:
    """One agent message of a ticket, as a reader of the gap sees it."""

    ticket_id: str
    message_id: str
    author: str
    at: str
    text: str  # the message's sentences without filler, one a line

    @property
    def ref(self) -> str:
        """How a draft's sentence cites it: ``TICKET#MESSAGE``."""
        return f"{self.ticket_id}#{self.message_id}"


def ticket_replies(ticket: dict[str, Any]) -> list[Reply]:
    """The agents' replies in ``ticket`` (a stored ticket: its messages have ids) after the customer's
    first message that says something; internal notes and messages left empty by the filler rules are
    skipped."""
    tid = str(ticket.get("id") or "")
    msgs = [m for m in ticket.get("messages") or [] if isinstance(m, dict) and not m.get("internal")]
    asked = next((i for i, m in enumerate(msgs) if m.get("role") == "customer"
                  and split_message(str(m.get("text") or ""))), None)
    if asked is None:
        return []
    out = []
    for m in msgs[asked + 1:]:
        if m.get("role") != "agent":
            continue
        said = [s for s, _ in split_message(str(m.get("text") or ""), agent=True)]
        if said:
            out.append(Reply(tid, str(m.get("id") or ""), str(m.get("author") or ""), str(m.get("at") or ""),
                             "\n".join(said)))
    return out


def replies_of(store: TicketReader, tenant: str, ticket_ids: Iterable[str], *,
               max_tickets: int = MAX_TICKETS) -> list[Reply]:
    """The replies of the first ``max_tickets`` of ``ticket_ids`` that are stored tickets, in that
    order (one read of the store)."""
    ids = list(dict.fromkeys(ticket_ids))[:max_tickets]
    if not ids:
        return []
    recs = store.get_many(tenant, ids)
    return [r for tid in ids if (rec := recs.get(tid)) is not None and rec.kind == "ticket"
            for r in ticket_replies(rec.data)]

"""What agents actually replied in the tickets a gap group's questions came from: for each stored
ticket, its agents' messages after the customer's message that asked the group's question (the one
sharing the most content words with its wordings), each without the filler drafting removes
(greetings, waiting, apologies, rating requests: ``drafting.cues.split_message``). This is what a
knowledge manager reads to write the missing article, and what ``assistant.gap_drafts`` drafts from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .drafting.cues import split_message
from .store.records import StoredRecord
from .text import content_words

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


def ticket_replies(ticket: dict[str, Any], asked: Sequence[str] = ()) -> list[Reply]:
    """The agents' replies in ``ticket`` (a stored ticket: its messages have ids) after the customer's
    question: the customer's message that shares the most content words with the wordings ``asked``
    (none shared: the ticket holds no reply to them, []), or without ``asked`` the customer's first
    message that says something. Internal notes and messages left empty by the filler rules are
    skipped."""
    tid = str(ticket.get("id") or "")
    msgs = [m for m in ticket.get("messages") or [] if isinstance(m, dict) and not m.get("internal")]
    said = [i for i, m in enumerate(msgs) if m.get("role") == "customer" and split_message(str(m.get("text") or ""))]
    if asked:
        words = {w for q in asked for w in content_words(q)}
        shared = {i: len(words & set(content_words(str(msgs[i].get("text") or "")))) for i in said}
        said = [i for i in said if shared[i] and shared[i] == max(shared.values())]
    if not said:
        return []
    out = []
    for m in msgs[said[0] + 1:]:
        if m.get("role") != "agent":
            continue
        lines = [s for s, _ in split_message(str(m.get("text") or ""), agent=True)]
        if lines:
            out.append(Reply(tid, str(m.get("id") or ""), str(m.get("author") or ""), str(m.get("at") or ""),
                             "\n".join(lines)))
    return out


def replies_of(store: TicketReader, tenant: str, ticket_ids: Iterable[str], asked: Sequence[str] = (), *,
               max_tickets: int = MAX_TICKETS) -> list[Reply]:
    """The replies to ``asked`` (a group's wordings) of the first ``max_tickets`` of ``ticket_ids`` that
    are stored tickets, in that order (one read of the store). A question asked while an agent worked a
    ticket about something else finds no customer message of its own there, and so no replies."""
    ids = list(dict.fromkeys(ticket_ids))[:max_tickets]
    if not ids:
        return []
    recs = store.get_many(tenant, ids)
    return [r for tid in ids if (rec := recs.get(tid)) is not None and rec.kind == "ticket"
            for r in ticket_replies(rec.data, asked)]

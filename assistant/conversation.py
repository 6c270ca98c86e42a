"""Conversations inside a ticket, and feedback on answers.

An agent working a ticket asks several questions in a row; the later ones are follow-ups
("那如果是有线连接呢？") that only make sense against the earlier ones. ``chat`` keeps the turns of each
conversation in the store, hands the earlier turns to ``Assistant.ask`` (which carries an earlier
question's words into a follow-up's retrieval query) and stores the new question and its answer, so a
session can be resumed later, by another process or another agent.

A conversation is either a stored ticket's (its id; the ticket's subject informs retrieval too; an
unknown ticket is ``NotFound``) or, said so with ``thread=True``, a free chat thread named by any id
that is not a stored ticket's (``casepilot chat --thread NAME``, ``thread_id`` in the API).

Feedback (helpful / not helpful, with an optional comment) is kept per logged answer; listing it
joins each rating with the answer's question, text and citations.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .errors import InputError, NotFound
from .ids import check_id
from .store import Feedback, Store, Turn

if TYPE_CHECKING:
    from .answering import Answer, Assistant
    from .library import Library


def check_ticket_id(ticket_id: str) -> str:
    """The ticket (or thread) id as stored (``assistant.ids.check_id``); ``InputError`` when it is not one."""
    return check_id(ticket_id or "", "the ticket id")


def is_stored_ticket(library: Library, ticket_id: str) -> bool:
    rec = library.store.get(library.tenant, ticket_id)
    return rec is not None and rec.kind == "ticket"


def conversation_of(library: Library, conversation_id: str, *, thread: bool = False) -> tuple[str, str | None]:
    """``(the id its turns are stored under, the stored ticket that scopes retrieval or None)``.

    Without ``thread``, ``conversation_id`` must name a stored ticket (``NotFound`` otherwise); with
    it, a free thread, which must not be a stored ticket's id (its turns would mix with the ticket's)."""
    if thread:
        tid = check_id(conversation_id or "", "the thread id")
        if is_stored_ticket(library, tid):
            raise InputError(f"{tid!r} is a stored ticket, not a free thread: chat in it with --ticket {tid} "
                             "(ticket_id in the API)")
        return tid, None
    tid = check_ticket_id(conversation_id)
    if not is_stored_ticket(library, tid):
        raise NotFound(f"no ticket {tid!r} in tenant {library.tenant!r}; to chat without a stored ticket, name a "
                       "thread: --thread NAME (thread_id in the API)")
    return tid, tid


def history(library: Library, ticket_id: str, *, limit: int = 20) -> list[Turn]:
    """The ticket's last ``limit`` stored turns, oldest first."""
    return library.store.turns(library.tenant, check_ticket_id(ticket_id), limit=limit)


def _turn_inputs(assistant: Assistant, conversation_id: str, history: int,
                 thread: bool) -> tuple[str, str | None, list[dict[str, str]]]:
    lib = assistant.lib
    tid, ticket = conversation_of(lib, conversation_id, thread=thread)
    earlier = lib.store.turns(lib.tenant, tid, limit=history) if history > 0 else []
    conversation = [{"role": t.role, "text": t.text} for t in earlier]
    return tid, ticket, conversation


def _store_turns(assistant: Assistant, tid: str, answer: Answer) -> None:
    assistant.lib.store.add_turns(assistant.lib.tenant, tid, [
        {"role": "user", "text": answer.question},
        {"role": "assistant", "text": answer.answer, "answer_id": answer.id},
    ])


def chat(assistant: Assistant, ticket_id: str, question: str, *, history: int = 10, thread: bool = False) -> Answer:
    """Answer ``question`` as the next turn of the ticket's conversation (of the free thread
    ``ticket_id`` names, with ``thread``) and store both turns.

    The last ``history`` stored turns are the conversation the question is resolved against. The
    stored ticket scopes retrieval with its subject. Nothing is stored when the question is rejected."""
    tid, ticket, conversation = _turn_inputs(assistant, ticket_id, history, thread)
    answer = assistant.ask(question, ticket=ticket, conversation=conversation)
    _store_turns(assistant, tid, answer)
    return answer


def chat_stream(assistant: Assistant, ticket_id: str, question: str, *, history: int = 10,
                thread: bool = False) -> Iterator[dict[str, Any]]:
    """``chat`` as ``Assistant.ask_stream`` events; the turns are stored before the ``answer`` event
    is handed on, and not at all when the answer failed."""
    tid, ticket, conversation = _turn_inputs(assistant, ticket_id, history, thread)
    for ev in assistant.ask_stream(question, ticket, conversation):
        if ev["event"] == "answer":
            _store_turns(assistant, tid, ev["answer"])
        yield ev


def feedback(store: Store | Library, tenant: str, answer_id: str, helpful: bool, comment: str = "", *,
             rater: str = "") -> Feedback:
    """Rate a logged answer as ``rater``; ``NotFound`` for an answer id unknown in ``tenant``."""
    s = store if isinstance(store, Store) else store.store
    answer_id = (answer_id or "").strip()
    if not answer_id:
        raise InputError("the answer id is empty")
    return s.add_feedback(tenant, answer_id, helpful, comment, rater=rater)


class Conversations:
    """One tenant's ticket conversations and answer feedback, over an ``Assistant``."""

    def __init__(self, assistant: Assistant, *, history: int = 10) -> None:
        self.assistant = assistant
        self.history_turns = history

    @property
    def library(self) -> Library:
        return self.assistant.lib

    def chat(self, ticket_id: str, question: str, *, thread: bool = False) -> Answer:
        return chat(self.assistant, ticket_id, question, history=self.history_turns, thread=thread)

    def turns(self, ticket_id: str, *, limit: int = 20) -> list[Turn]:
        return history(self.library, ticket_id, limit=limit)

    def last_answer_id(self, ticket_id: str) -> str | None:
        """The id of the ticket's latest stored answer (what ``/good`` rates in a resumed session)."""
        for t in reversed(self.turns(ticket_id, limit=self.history_turns or 20)):
            if t.role == "assistant" and t.answer_id:
                return t.answer_id
        return None

    def feedback(self, answer_id: str, helpful: bool, comment: str = "", *, rater: str = "") -> Feedback:
        return feedback(self.library, self.library.tenant, answer_id, helpful, comment, rater=rater)

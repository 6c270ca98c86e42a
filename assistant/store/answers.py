"""The answer log, the conversations (each ticket's or thread's turns) and the agents' ratings of
answers, with what those say about a record (how often answers cited it, how they were rated)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import InputError, NotFound
from ..redact import redact
from . import schema as t
from .answer_queue import AnswerQueue, Row, logged_elsewhere, settled
from .desk import cited_ids, count_questions, set_rating
from .engine import now_iso

TURN_ROLES = ("user", "assistant")
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True)
class LoggedAnswer:
    """An answer as logged (the field order is the JSON's)."""

    id: str
    tenant: str
    ticket_id: str | None
    question: str
    answer: str
    citations: list[dict[str, Any]]
    abstained: bool
    support: float
    engine: str
    created_at: str
    promises: list[dict[str, Any]] = field(default_factory=list)  # assistant.promises.Flag.to_dict() each


@dataclass(frozen=True)
class Turn:
    """One turn of a ticket's (or thread's) conversation."""

    role: str  # user | assistant
    text: str
    answer_id: str | None  # the logged answer an assistant turn gave
    created_at: str


@dataclass(frozen=True)
class Feedback:
    """A rating of a logged answer, as stored."""

    id: int | None
    answer_id: str
    helpful: bool
    comment: str
    created_at: str
    rater: str = ""  # who rated (api:KEY_ID, a bot user, cli:NAME); '' before raters were kept


@dataclass(frozen=True)
class RatedAnswer:
    """A rating with the answer it rates."""

    id: int
    answer_id: str
    helpful: bool
    comment: str
    created_at: str
    question: str
    answer: str
    citations: list[dict[str, Any]]
    engine: str
    ticket_id: str | None
    abstained: bool
    rater: str = ""


@dataclass(frozen=True)
class CitationStats:
    cited: int  # answers that cited the record
    helpful: int  # of those, rated helpful (each answer's newest rating)
    not_helpful: int


class ConversationLog(Protocol):
    """What a conversation reads and writes: its turns and the ratings of its answers."""

    def turns(self, tenant: str, ticket_id: str, *, limit: int = 20) -> list[Turn]: ...

    def add_turns(self, tenant: str, ticket_id: str, turns: Sequence[Mapping[str, Any]]) -> None: ...

    def add_feedback(self, tenant: str, answer_id: str, helpful: bool, comment: str = "", *,
                     rater: str = "") -> Feedback: ...


def _answer(r: Any) -> LoggedAnswer:
    return LoggedAnswer(r.id, r.tenant, r.ticket_id, r.question, r.answer, json.loads(r.citations), bool(r.abstained),
                        r.support, r.engine, r.created_at, json.loads(r.promises or "[]"))


class AnswerStore:
    """The ``Store``'s answer, conversation and feedback methods (a mixin: ``Store`` gives the engine)."""

    engine: Engine
    rating_writes = 0  # ratings and opens written through this store: the ratings' prior reloads at once

    answer_queue: AnswerQueue | None = None  # answers logged off the caller's path (``defer_answer_log``)

    def defer_answer_log(self, linger: float = 0.05) -> None:
        """Queue logged answers and write them in batches from a thread of this process
        (``answer_queue``): the API server's choice, so that an answer is sent without waiting for
        the database. Reads of the answer log through this store write what is queued first."""
        if self.answer_queue is None:
            self.answer_queue = AnswerQueue(self._write_answers, linger=linger)

    def log_answer(self, tenant: str, row: dict[str, Any]) -> None:
        self.log_answers(tenant, [row])

    def log_answers(self, tenant: str, rows: Sequence[dict[str, Any]]) -> None:
        """Log answers (``citations`` a JSON string; ``helpful``, when given, the answer's rating so far), each
        with a row per record it cited, and count their questions for the desk, in one transaction
        (queued for one, after ``defer_answer_log``). An answer's time is when it was logged."""
        at = now_iso()
        stamped = [{"created_at": at, **row} for row in rows]
        if self.answer_queue is not None:
            self.answer_queue.put(tenant, stamped)
        else:
            self._write_answers([(tenant, row) for row in stamped])

    def _write_answers(self, batch: Sequence[Row]) -> None:
        """Logged answers of any tenants, in one transaction."""
        by_tenant: dict[str, list[dict[str, Any]]] = {}
        for tenant, row in batch:
            by_tenant.setdefault(tenant, []).append({**row, "tenant": tenant})
        with self.engine.begin() as conn:
            for tenant, answers in by_tenant.items():
                shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # one INSERT per set of columns
                for a in answers:
                    shapes.setdefault(tuple(sorted(a)), []).append(a)
                for same in shapes.values():
                    conn.execute(t.answers.insert(), same)
                cited = [{"tenant": tenant, "answer_id": a["id"], "record_id": rid, "created_at": a["created_at"],
                          "helpful": a.get("helpful")}
                         for a in answers for rid in cited_ids(a.get("citations") or "[]")]
                if cited:
                    conn.execute(t.answer_citations.insert(), cited)
                count_questions(conn, tenant, answers)

    @settled
    def answers(self, tenant: str, *, abstained: bool | None = None, limit: int = 100,
                since: str | None = None) -> list[LoggedAnswer]:
        """Recent answers, newest first; ``abstained=True`` gives the questions the library could not
        answer; ``since``: only those logged at or after that ISO time."""
        c = t.answers.c
        q = sa.select(t.answers).where(c.tenant == tenant).order_by(c.created_at.desc()).limit(limit)
        if abstained is not None:
            q = q.where(c.abstained == (sa.true() if abstained else sa.false()))
        if since is not None:
            q = q.where(c.created_at >= since)
        with self.engine.connect() as conn:
            return [_answer(r) for r in conn.execute(q)]

    @settled
    def flagged_count(self, tenant: str, since: str | None = None) -> int:
        """How many of the tenant's answers (logged at or after ``since``, an ISO time) were flagged for
        committing to what their sources do not say (``assistant.promises``). One indexed count."""
        c = t.answers.c
        q = sa.select(sa.func.count()).select_from(t.answers).where(c.tenant == tenant, c.flagged == sa.true())
        if since is not None:
            q = q.where(c.created_at >= since)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())

    @settled
    def flagged_answers(self, tenant: str, *, since: str | None = None, limit: int = 100) -> list[LoggedAnswer]:
        """The flagged answers (``flagged_count``), newest first, each with its flags."""
        c = t.answers.c
        q = (sa.select(t.answers).where(c.tenant == tenant, c.flagged == sa.true())
             .order_by(c.created_at.desc()).limit(max(limit, 0)))
        if since is not None:
            q = q.where(c.created_at >= since)
        with self.engine.connect() as conn:
            return [_answer(r) for r in conn.execute(q)]

    @settled
    def answer(self, tenant: str, answer_id: str) -> LoggedAnswer | None:
        """One logged answer of the tenant, citations parsed; ``None`` when the tenant has no such answer."""
        c = t.answers.c
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(t.answers).where(c.tenant == tenant, c.id == answer_id)).first()
        return None if r is None else _answer(r)

    # ---- conversations -------------------------------------------------------------------------

    def add_turns(self, tenant: str, ticket_id: str, turns: Sequence[Mapping[str, Any]]) -> None:
        """Append turns (``role`` 'user' | 'assistant', ``text``, optional ``answer_id``) to a ticket's
        conversation, all in one transaction: a question is never stored without its answer."""
        at = now_iso()
        rows = []
        for turn in turns:
            role = turn.get("role")
            if role not in TURN_ROLES:
                raise InputError(f"a turn's role is 'user' or 'assistant', not {role!r}")
            rows.append({"tenant": tenant, "ticket_id": ticket_id, "role": role, "text": str(turn.get("text") or ""),
                         "answer_id": turn.get("answer_id") or None, "created_at": turn.get("created_at") or at})
        if rows:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(t.turns), rows)

    def turns(self, tenant: str, ticket_id: str, *, limit: int = 20) -> list[Turn]:
        """The ticket's last ``limit`` turns, oldest first."""
        c = t.turns.c
        q = (sa.select(c.role, c.text, c.answer_id, c.created_at)
             .where(c.tenant == tenant, c.ticket_id == ticket_id).order_by(c.id.desc()).limit(max(limit, 0)))
        with self.engine.connect() as conn:
            rows = [Turn(r.role, r.text, r.answer_id, r.created_at) for r in conn.execute(q)]
        return rows[::-1]

    @settled
    def citation_stats(self, tenant: str, record_id: str) -> CitationStats:
        """How often answers cited ``record_id``, and how agents rated those answers (newest rating each)."""
        ac = t.answer_citations.c
        q = sa.select(sa.func.count(), sa.func.sum(sa.case((ac.helpful == sa.true(), 1), else_=0)),
                      sa.func.sum(sa.case((ac.helpful == sa.false(), 1), else_=0))).where(
            ac.tenant == tenant, ac.record_id == record_id)
        with self.engine.connect() as conn:
            cited, helpful, not_helpful = conn.execute(q).one()
        return CitationStats(cited, int(helpful or 0), int(not_helpful or 0))

    # ---- feedback ------------------------------------------------------------------------------

    @settled
    def add_feedback(self, tenant: str, answer_id: str, helpful: bool, comment: str = "", *,
                     rater: str = "") -> Feedback:
        """Rate a logged answer of this tenant as ``rater`` (every rating is kept; each rater's newest is
        their current one). Raises ``NotFound`` for an answer id the tenant does not have."""
        if not isinstance(helpful, bool):
            raise InputError("helpful is true or false")
        comment = (comment or "").strip()
        if len(comment) > MAX_COMMENT_CHARS:
            raise InputError(f"the comment is {len(comment)} characters; the limit is {MAX_COMMENT_CHARS}")
        comment = redact(comment).text  # a rating's comment never needs a customer's personal data
        at = now_iso()
        ac = t.answers.c
        while True:
            with self.engine.connect() as conn:
                known = conn.execute(sa.select(ac.id).where(ac.tenant == tenant, ac.id == answer_id)).first()
            if known is not None:
                break
            if not logged_elsewhere(self.engine, self.answer_queue, tenant, answer_id):
                raise NotFound(f"no answer {answer_id!r} in tenant {tenant!r}")
        with self.engine.begin() as conn:
            fid = conn.execute(sa.insert(t.feedback).values(tenant=tenant, answer_id=answer_id, helpful=helpful,
                                                            comment=comment, created_at=at,
                                                            rater=rater[:200])).inserted_primary_key
            set_rating(conn, tenant, answer_id, helpful)
        self.rating_writes += 1
        return Feedback(fid[0] if fid else None, answer_id, helpful, comment, at, rater[:200])

    @settled
    def feedback(self, tenant: str, *, answer_id: str | None = None, limit: int = 100,
                 since: str | None = None) -> list[RatedAnswer]:
        """Ratings, newest first, each with its answer's question, answer text, citations, engine and
        ticket; ``since``: only ratings given at or after that ISO time."""
        f, a = t.feedback.c, t.answers.c
        q = (sa.select(f.id, f.answer_id, f.helpful, f.comment, f.created_at, a.question, a.answer, a.citations,
                       a.engine, a.ticket_id, a.abstained, f.rater)
             .select_from(t.feedback.join(t.answers, sa.and_(a.id == f.answer_id, a.tenant == f.tenant)))
             .where(f.tenant == tenant).order_by(f.id.desc()).limit(max(limit, 0)))
        if answer_id is not None:
            q = q.where(f.answer_id == answer_id)
        if since is not None:
            q = q.where(f.created_at >= since)
        with self.engine.connect() as conn:
            return [RatedAnswer(r.id, r.answer_id, bool(r.helpful), r.comment, r.created_at, r.question, r.answer,
                                json.loads(r.citations), r.engine, r.ticket_id, bool(r.abstained), r.rater)
                    for r in conn.execute(q)]

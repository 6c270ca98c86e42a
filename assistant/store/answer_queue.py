"""Answers logged off the response path. ``Store.defer_answer_log()`` (the API server does it) makes
``log_answers`` queue the rows; a thread of the process writes what is queued, a batch per
transaction, after waiting ``linger`` seconds for more. One transaction for many answers costs a
fraction of one each, and the answer is sent without waiting for the database's write lock, which
the server's workers share.

Nothing is lost and nothing is read stale in the process: a read of the answer log through the store
(``settled``) writes what is queued first, and waits for a batch being written; a batch that fails
for a passing reason (a locked or unreachable database) stays queued and is retried; a row the
database refuses on its own is logged and dropped, as its request would have failed; the queue holds
at most ``limit`` rows, and a log call past that waits for the writer, at most ``full_wait`` seconds
before its request fails; ``close`` (the server's shutdown, or the interpreter's exit) waits for the
batch being written and writes the rest. Another process sees an answer within ``linger`` seconds
and one write.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar, cast

import sqlalchemy as sa

from . import schema as t

log = logging.getLogger(__name__)

Row = tuple[str, dict[str, Any]]  # (tenant, the answer's row)
F = TypeVar("F", bound=Callable[..., Any])


class AnswerQueue:
    """The queue and its writer thread; ``write`` stores a batch of rows in one transaction."""

    def __init__(self, write: Callable[[Sequence[Row]], None], *, linger: float = 0.05, limit: int = 10_000,
                 retry: float = 0.5, full_wait: float = 10.0) -> None:
        self._write = write
        self.linger = linger
        self.limit = limit
        self.retry = retry
        self.full_wait = full_wait
        self._rows: list[Row] = []
        self._inflight = 0  # rows of the batch being written: taken from the queue, not yet stored
        self._cond = threading.Condition()
        self._writing = threading.Lock()  # held while a batch is written: a flush waits for it
        self._pid = -1
        self._closed = False
        self.batches = self.written = self.dropped = 0
        atexit.register(_close_at_exit, weakref.ref(self))

    @property
    def pending(self) -> int:
        """Rows not yet stored: queued, or in the batch being written."""
        return len(self._rows) + self._inflight

    def put(self, tenant: str, rows: Sequence[dict[str, Any]]) -> None:
        """Queue ``rows`` of ``tenant``; waits while the queue is full."""
        with self._cond:
            if self._pid != os.getpid() and not self._closed:  # the first put, or a forked child (no threads)
                self._pid, self._rows, self._writing = os.getpid(), [], threading.Lock()
                threading.Thread(target=self._run, daemon=True, name="casepilot-answer-log").start()
            deadline = time.monotonic() + self.full_wait
            while len(self._rows) >= self.limit and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:  # the database has taken nothing for a while: fail this request, not hang it
                    raise AnswerLogFull(f"{len(self._rows)} logged answers are waiting for the database, which "
                                        f"has not stored any for {self.full_wait:.0f} s")
                self._cond.wait(min(left, 1.0))
            self._rows.extend((tenant, dict(r)) for r in rows)
            closed = self._closed
            self._cond.notify_all()
        if closed:  # no writer any more: written now
            self.flush()

    def flush(self) -> None:
        """Write what was queued before this call (in this thread, unless the writer has taken it), and
        wait for a batch the writer is writing."""
        if not self.pending:
            return
        with self._writing:
            self._drain()

    def close(self) -> None:
        """Write the rest and stop the writer; rows queued later are written at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        try:
            self.flush()
        except Exception as e:
            log.error("%d logged answers could not be written at shutdown: %s", self.pending, e)

    def _drain(self) -> None:
        """Write every queued row (the caller holds ``_writing``); a passing failure puts them back."""
        with self._cond:
            self._inflight = len(self._rows)  # first: a reader never sees the rows in neither place
            batch, self._rows = self._rows, []
        if not batch:
            return
        try:
            self._write(batch)
        except Exception as e:
            if not _passing(e) and len(batch) > 1:
                self._one_by_one(batch)  # one bad row must not hold the others back
            else:
                self._refuse(batch, e)
        else:
            self.batches += 1
            self.written += len(batch)
        finally:
            with self._cond:
                self._inflight = 0  # stored, refused, or put back in the queue by now
                self._cond.notify_all()  # a put waiting for room

    def _one_by_one(self, batch: list[Row]) -> None:
        for i, row in enumerate(batch):
            try:
                self._write([row])
                self.written += 1
            except Exception as e:
                if _passing(e):
                    self._refuse(batch[i:], e)
                    return
                self._refuse([row], e)

    def _refuse(self, rows: list[Row], e: Exception) -> None:
        if _passing(e):
            with self._cond:
                self._rows[:0] = rows
            raise e
        self.dropped += len(rows)
        log.error("the database refused %d logged answer(s), not written: %s", len(rows), e)

    def _run(self) -> None:
        pid = os.getpid()
        while True:
            with self._cond:
                while not self._rows and not self._closed:
                    self._cond.wait()
                if self._closed or pid != self._pid:
                    return
            time.sleep(self.linger)  # more answers are on their way: one transaction for all
            try:
                with self._writing:
                    self._drain()
            except Exception as e:  # kept; tried again
                log.warning("writing %d logged answers failed (%s); retrying in %.1f s", self.pending, e, self.retry)
                time.sleep(self.retry)


class AnswerLogFull(RuntimeError):
    """The queue is full and the database has stored nothing for ``full_wait`` seconds."""


def _close_at_exit(ref: weakref.ref[AnswerQueue]) -> None:
    q = ref()
    if q is not None:
        q.close()


def _passing(e: Exception) -> bool:
    """A failure that trying again may cure (a locked, busy or unreachable database), not a refusal."""
    return isinstance(e, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError) or (
        isinstance(e, sa.exc.DBAPIError) and e.connection_invalidated)


class _Queued(Protocol):
    answer_queue: AnswerQueue | None


def settled(method: F) -> F:
    """A store method that reads the answer log: what this process queued is written first. A write
    that fails is logged and the read goes on with what is stored."""

    @functools.wraps(method)
    def wrapper(self: _Queued, *args: Any, **kwargs: Any) -> Any:
        q = self.answer_queue
        if q is not None and q.pending:
            try:
                q.flush()
            except Exception as e:
                log.warning("logged answers not written before a read: %s", e)
        return method(self, *args, **kwargs)

    return cast(F, wrapper)


def logged_elsewhere(engine: sa.engine.Engine, queue: AnswerQueue | None, tenant: str, answer_id: str,
                     wait: float = 1.0) -> bool:
    """Whether an answer this process does not find shows up within ``wait`` seconds: another worker
    may have it queued (``linger`` and a write). Only where answers are queued (the server); an
    unknown id costs the wait."""
    if queue is None:
        return False
    a = t.answers.c
    q = sa.select(a.id).where(a.tenant == tenant, a.id == answer_id)
    stop = time.monotonic() + wait
    while time.monotonic() < stop:
        time.sleep(0.1)
        with engine.connect() as conn:
            if conn.execute(q).first() is not None:
                return True
    return False

"""Answers logged off the response path (``Store.defer_answer_log``, the API server's store): batched,
read back at once by the process that logged them, seen by another process within the linger, never
lost to a passing failure, and a refused row does not hold the others back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from assistant.errors import NotFound
from assistant.store import Store


def _row(aid: str, *, cited: str = "C-1", abstained: bool = False) -> dict[str, Any]:
    return {"id": aid, "ticket_id": None, "question": f"问题 {aid}", "answer": "答案",
            "citations": json.dumps([{"id": cited, "quote": "q"}]), "abstained": abstained, "support": 0.8,
            "engine": "extractive", "promises": "[]", "flagged": False}


def _count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM answers")).scalar_one())


def test_queued_answers_are_batched_and_read_back_at_once(db_url: str) -> None:
    store, other = Store(db_url), Store(db_url)
    store.defer_answer_log(linger=0.3)
    try:
        for n in range(20):
            store.log_answer("t", _row(f"a{n}", abstained=n % 2 == 0))
        assert store.answer_queue is not None and store.answer_queue.pending == 20
        assert _count(other) == 0  # not written yet: the answers were sent before the database was asked
        # a read through the logging store writes what is queued first
        assert store.answer("t", "a19") is not None
        assert len(store.answers("t", limit=100)) == 20
        assert len(store.answers("t", abstained=True)) == 10
        assert store.citation_stats("t", "C-1").cited == 20
        assert sum(d.questions for d in store.answer_days("t", "2000-01-01", "2999-01-01")) == 20
        # the writer batches: one transaction for answers that arrive within the linger
        for n in range(20, 40):
            store.log_answer("t", _row(f"a{n}"))
        deadline = time.monotonic() + 10
        while _count(other) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _count(other) == 40  # another process sees them within the linger and a write
        assert store.answer_queue.batches <= 3 and store.answer_queue.written == 40
    finally:
        store.close()
        other.close()


def test_close_writes_the_rest_and_later_answers_are_written_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store = Store(url)
    store.defer_answer_log(linger=60)  # the writer would wait a minute
    for n in range(5):
        store.log_answer("t", _row(f"a{n}"))
    store.close()
    store.log_answer("t", _row("late"))
    reopened = Store(url)
    assert _count(reopened) == 6 and reopened.answer("t", "late") is not None
    reopened.close()


def test_feedback_in_another_process_waits_for_an_answer_still_queued(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    a, b = Store(url), Store(url)
    a.defer_answer_log(linger=0.4)
    b.defer_answer_log()  # a server worker: it knows answers may be queued in its siblings
    try:
        a.log_answer("t", _row("x"))
        fb = b.add_feedback("t", "x", True, rater="api:k")  # logged by worker a, rated through worker b
        assert fb.answer_id == "x" and a.citation_stats("t", "C-1").helpful == 1
        t0 = time.monotonic()
        with pytest.raises(NotFound):
            b.add_feedback("t", "nope", True)
        assert time.monotonic() - t0 < 3
    finally:
        a.close()
        b.close()


def test_a_passing_failure_keeps_the_answers_and_a_refused_row_is_dropped_alone(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.log_answer("t", _row("dup"))  # written at once: no queue yet
    store.defer_answer_log(linger=0.05)
    q = store.answer_queue
    assert q is not None
    q.retry = 0.05
    write, failures = q._write, []

    def flaky(batch: Any) -> None:  # the database is locked by another writer, twice
        if len(failures) < 2:
            failures.append(len(batch))
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        write(batch)

    q._write = flaky
    for aid in ("ok-1", "dup", "ok-2"):  # the database refuses "dup": its id is taken
        store.log_answer("t", _row(aid))
    deadline = time.monotonic() + 30
    while (q.pending or q.written + q.dropped < 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(failures) == 2 and q.dropped == 1 and q.written == 2
    assert store.answer("t", "ok-1") is not None and store.answer("t", "ok-2") is not None and _count(store) == 3
    store.close()


def test_a_read_and_close_wait_for_the_batch_being_written() -> None:
    """While the writer writes a batch, its rows are in neither the queue nor the database: a flush
    (what every read of the answer log does first) and close must wait for that write, and a batch
    that then fails for a passing reason is written by close, not stranded."""
    import threading

    from assistant.store.answer_queue import AnswerQueue

    stored: list[Any] = []
    started, release = threading.Event(), threading.Event()
    fail_once = [True]

    def write(batch: Any) -> None:
        started.set()
        release.wait(5)
        if fail_once[0]:
            fail_once[0] = False
            raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))
        stored.extend(batch)

    q = AnswerQueue(write, linger=0.0, retry=0.05)
    q.put("t", [{"id": "a1"}])
    assert started.wait(5)
    assert q.pending == 1  # in flight, still counted
    flushed = threading.Thread(target=q.flush)
    flushed.start()
    time.sleep(0.2)
    assert flushed.is_alive()  # waits for the write instead of returning with nothing stored
    release.set()  # the write fails (locked); the row goes back; the flush then writes it
    flushed.join(5)
    assert [r["id"] for _, r in stored] == ["a1"] and q.pending == 0

    release.clear()
    started.clear()
    q.put("t", [{"id": "a2"}])
    assert started.wait(5)
    closing = threading.Thread(target=q.close)
    closing.start()
    time.sleep(0.2)
    assert closing.is_alive()
    release.set()
    closing.join(5)
    assert [r["id"] for _, r in stored] == ["a1", "a2"] and q.pending == 0


def test_a_full_queue_fails_the_request_instead_of_hanging() -> None:
    from assistant.store.answer_queue import AnswerLogFull, AnswerQueue

    def write(batch: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database or disk is full"))

    q = AnswerQueue(write, linger=0.0, retry=0.05, limit=2, full_wait=0.3)
    q.put("t", [{"id": "a1"}, {"id": "a2"}])
    t0 = time.monotonic()
    with pytest.raises(AnswerLogFull, match="waiting for the database"):
        q.put("t", [{"id": "a3"}])
    assert time.monotonic() - t0 < 3
    assert q.pending == 2  # nothing queued is dropped
    q.close()  # stops the writer's retries (the rows cannot be written: logged at close)

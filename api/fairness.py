"""Fair shares under load: a tenant may have only a few expensive requests in progress at once.

An expensive request is one whose text for the search is long: a tag suggestion, a question to
``/v1/ask``, ``/v1/chat`` or ``/v1/chat/completions`` (with the earlier question a follow-up carries
over), or a search query, of over ``expensive_chars`` characters. Its cost grows with the text, so a
tenant sending many at once would take every core and read slot of the process, and other tenants'
short questions would wait behind them. Beyond ``max_expensive_per_tenant`` in progress in this
process a request gets 429 with ``Retry-After`` before any work is done; short requests are never
held back. (Imports are bounded apart: ``max_import_jobs_running`` per process, one tenant's at a
time under its write lock.)

    with st.fair.hold(p.tenant, len(text)):      # 429 when the tenant is at its limit
        ...
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

from .problems import Problem


class Slot:
    """One expensive request's place; ``release`` frees it (once, from any thread)."""

    def __init__(self, fair: FairShare, tenant: str) -> None:
        self._fair = fair
        self._tenant = tenant
        self._t0 = time.monotonic()
        self._released = False

    def release(self) -> None:
        with self._fair._lock:
            if self._released:
                return
            self._released = True
            n = self._fair._in_progress[self._tenant] - 1
            if n:
                self._fair._in_progress[self._tenant] = n
            else:
                del self._fair._in_progress[self._tenant]
            # what a retry is told to wait: the recent length of an expensive request
            took = time.monotonic() - self._t0
            self._fair.seconds = took if self._fair.seconds is None else 0.7 * self._fair.seconds + 0.3 * took


class FairShare:
    """Per tenant, the expensive requests in progress in this process."""

    def __init__(self, per_tenant: int, expensive_chars: int) -> None:
        self.per_tenant = per_tenant
        self.expensive_chars = expensive_chars
        self._lock = threading.Lock()
        self._in_progress: dict[str, int] = {}
        self.seconds: float | None = None  # a moving average of their durations

    def is_expensive(self, chars: int) -> bool:
        return chars > self.expensive_chars

    def in_progress(self, tenant: str) -> int:
        with self._lock:
            return self._in_progress.get(tenant, 0)

    def acquire(self, tenant: str) -> Slot:
        """A slot, or a 429 problem when the tenant has ``per_tenant`` expensive requests in progress."""
        with self._lock:
            n = self._in_progress.get(tenant, 0)
            if self.per_tenant and n >= self.per_tenant:
                wait = max(1, math.ceil(self.seconds or 1.0))
                raise Problem(429, "too_many_expensive_requests",
                              f"this tenant has {n} long request(s) in progress (tag suggestions, questions or "
                              f"searches over {self.expensive_chars} characters), the most it may have at once; "
                              f"retry in {wait} s", headers={"Retry-After": str(wait)})
            self._in_progress[tenant] = n + 1
        return Slot(self, tenant)

    def take(self, tenant: str, chars: int) -> Slot | None:
        """A slot when the request is expensive (``chars`` of text to search), else None."""
        return self.acquire(tenant) if self.is_expensive(chars) else None

    @contextmanager
    def hold(self, tenant: str, chars: int) -> Iterator[None]:
        """A slot for the request's duration when it is expensive (``chars`` of text to search); a
        short request passes through."""
        if not self.is_expensive(chars):
            yield
            return
        slot = self.acquire(tenant)
        try:
            yield
        finally:
            slot.release()


def asked_chars(question: str, conversation: Sequence[dict[str, str]] = ()) -> int:
    """The characters a question puts through the search: its own, and a follow-up carries the
    earlier question over (``Assistant.retrieval_query``)."""
    earlier = [t.get("text", "") for t in conversation if t.get("role") == "user"]
    return len(question) + (len(earlier[-1]) if earlier else 0)


T = TypeVar("T")


class ReleasingIterator(Iterator[T]):
    """A streamed response's items; ``slot`` is released when they end or fail, or when the stream is
    dropped (a client gone, or a response never started)."""

    def __init__(self, items: Iterator[T], slot: Slot | None) -> None:
        self._items = items
        self._slot = slot

    def __next__(self) -> T:
        try:
            return next(self._items)
        except BaseException:  # StopIteration too
            self._release()
            raise

    def _release(self) -> None:
        if self._slot is not None:
            self._slot.release()

    def close(self) -> None:
        close = getattr(self._items, "close", None)
        if close is not None:
            close()
        self._release()

    def __del__(self) -> None:
        self._release()

"""The progress of ``casepilot ingest`` and ``reindex``, on standard error: on a terminal a bar
(records, chunks written, the embedding rate and the time left); elsewhere (a log, CI) a plain line
every ``PLAIN_EVERY`` seconds once an import has run ``PLAIN_AFTER`` seconds, so that short imports
stay quiet.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from tqdm import tqdm

PLAIN_AFTER = 2.0
PLAIN_EVERY = 10.0


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


class ImportProgress:
    """The ingest pipeline's progress (``update``, ``stats``, ``close``), drawn for a person or logged."""

    def __init__(self, total: int, stream: IO[str] | None = None, *, tty: bool | None = None,
                 after: float = PLAIN_AFTER, every: float = PLAIN_EVERY) -> None:
        self.total, self.done = total, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.after, self.every = after, every
        self.t0 = time.monotonic()
        self.last_line = 0.0
        self.chunks = self.embedded = 0
        self.embed_seconds = 0.0
        self.bar: Any = None
        if self.tty:
            self.bar = tqdm(total=total, desc="ingest", unit="rec", file=self.stream, dynamic_ncols=True, leave=False)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def stats(self, chunks: int, embedded: int, embed_seconds: float) -> None:
        self.chunks, self.embedded, self.embed_seconds = chunks, embedded, embed_seconds
        if self.bar is not None:
            self.bar.set_postfix_str(f"{chunks} chunks, {self.rate():.0f} texts/s embedded", refresh=True)
            return
        now = time.monotonic() - self.t0
        if now >= self.after and now - self.last_line >= self.every:
            self.last_line = now
            print(self.line(now), file=self.stream, flush=True)

    def rate(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds else 0.0

    def line(self, elapsed: float) -> str:
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        left = (f", about {_duration(elapsed * (self.total - self.done) / self.done)} left"
                if self.done and self.done < self.total else "")
        return (f"ingest: {self.done}/{self.total} records{share}, {self.chunks} chunks, "
                f"{self.rate():.0f} texts/s embedded, {_duration(elapsed)} so far{left}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def progress_factory(enabled: bool) -> Any:
    """The ``progress`` an ``Ingestor`` takes: ``ImportProgress`` for an import, a tqdm bar for the rest;
    nothing drawn unless ``enabled``."""

    def make(total: int, desc: str) -> Any:
        if desc == "ingest" and enabled:  # a bar with chunks and the embedding rate, or plain lines
            return ImportProgress(total, sys.stderr)
        return tqdm(total=total, desc=desc, unit="rec" if desc == "ingest" else "chunk", file=sys.stderr,
                    disable=None if enabled else True, dynamic_ncols=True, leave=False)

    return make

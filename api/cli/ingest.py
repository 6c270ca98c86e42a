"""``casepilot ingest``'s progress, its table per file, and ``--sync`` (with ``--dry-run``).

Progress goes to standard error: on a terminal a bar (records, chunks written, the embedding rate and
the time left); elsewhere (a log, CI) a plain line every ``PLAIN_EVERY`` seconds once an import has
run ``PLAIN_AFTER`` seconds, so that short imports stay quiet.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import IO, Any

from assistant.errors import InputError

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
            from tqdm import tqdm

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


def print_files(summary: Any, removed_why: Any = ()) -> None:
    """The table per file, after the counts line (only when there is more than one file, or something
    to explain)."""
    from ingestion.report import format_table, per_file

    rows = per_file(summary, removed_why)
    if len(rows) > 1 or any(r["why"] for r in rows):
        for line in format_table(rows):
            print(line)


def cmd_sync(args: argparse.Namespace, lib: Any, ingestor: Any) -> tuple[Any, Any]:
    """``ingest --sync``: the plan (``--dry-run``: printed, nothing changed) or the sync. Returns the
    import's summary (None for a dry run) and the plan."""
    from ingestion.sync import plan, sync

    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:  # a mistyped folder would otherwise remove every article imported from it
        raise InputError(f"no such file or folder: {', '.join(missing)}; nothing was synced")
    if args.dry_run:
        return None, plan(ingestor, args.paths, args.kind, args.format, dry_run=True)
    return sync(ingestor, args.paths, args.kind, args.format)


def print_plan(p: Any, as_json: bool) -> dict[str, Any]:
    """A dry run's plan: what the sync would add, update and remove; the JSON it prints."""
    out = {"dry_run": True, "added": len(p.added), "updated": len(p.updated), "unchanged": len(p.unchanged),
           "removed": len(p.remove), "rejected": [r.to_dict() for r in p.rejected], "sync": p.to_dict()}
    if as_json:
        return out
    print(f"dry run (nothing changed): would add {len(p.added)}, update {len(p.updated)}, leave {len(p.unchanged)} "
          f"unchanged, remove {len(p.remove)}; {len(p.rejected)} rejected")
    for rid in p.added:
        print(f"  add     {rid}  ({p.sources.get(rid, '')})")
    for rid in p.updated:
        print(f"  update  {rid}  ({p.sources.get(rid, '')})")
    print_removals(p)
    return out


def print_removals(p: Any) -> None:
    for g in p.remove:
        print(f"  remove  {g.id}  ({g.file}: {g.reason})")
    for g in p.keep:
        print(f"  keep    {g.id}  ({g.kind}, {g.file}: {g.reason})")

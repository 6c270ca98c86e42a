"""An import's summary per file: what was added, updated, left unchanged, removed and skipped, and why
a record was skipped (a rejected line or ticket, a conflict with a review)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .pipeline import IngestSummary

REASONS_SHOWN = 3  # reasons listed per file; the rest are counted


def per_file(summary: IngestSummary, removed_why: Iterable[tuple[str, str]] = ()) -> list[dict[str, Any]]:
    """One row per file, in the order first met: ``file, added, updated, unchanged, removed, skipped,
    why`` (``why``: reasons for what was skipped or removed). ``removed_why`` gives (id, reason) for
    records a sync removed."""
    rows: dict[str, dict[str, Any]] = {}

    def row(file: str) -> dict[str, Any]:
        return rows.setdefault(file, {"file": file, "added": 0, "updated": 0, "unchanged": 0, "removed": 0,
                                      "skipped": 0, "why": []})

    src = summary.sources
    for name in ("added", "updated", "unchanged", "removed"):
        for rid in getattr(summary, name):
            row(src.get(rid, "?"))[name] += 1
    for rid, reason in removed_why:
        row(src.get(rid, "?"))["why"].append(f"removed {rid}: {reason}")
    for c in summary.conflicts:
        r = row(src.get(c["id"], "?"))
        r["skipped"] += 1
        r["why"].append(f"{c['id']}: changed in review since its last import (kept)")
    for rej in summary.rejected:
        r = row(rej.file)
        r["skipped"] += 1
        where = f"line {rej.line}: " if rej.line else ""
        r["why"].append(f"{where}{rej.field + ': ' if rej.field else ''}{rej.error}")
    return list(rows.values())


def format_table(rows: list[dict[str, Any]], width: int = 100) -> list[str]:
    """The rows as aligned text lines, each file's reasons below it (the first few, then a count)."""
    if not rows:
        return []
    cols = ("added", "updated", "unchanged", "removed", "skipped")
    name_w = min(max(len("file"), *(len(r["file"]) for r in rows)), max(20, width - 50))
    lines = [f"{'file':<{name_w}}  " + "  ".join(f"{c:>9}" for c in cols)]
    for r in rows:
        name = r["file"] if len(r["file"]) <= name_w else "…" + r["file"][-(name_w - 1):]
        lines.append(f"{name:<{name_w}}  " + "  ".join(f"{r[c]:>9}" for c in cols))
        for why in r["why"][:REASONS_SHOWN]:
            lines.append(f"    {why}")
        if len(r["why"]) > REASONS_SHOWN:
            lines.append(f"    … and {len(r['why']) - REASONS_SHOWN} more (--json lists them all)")
    return lines

"""An import's summary: what was added, updated, left unchanged, removed and skipped, in all and per
file, and why a record was skipped (a rejected line or ticket, a conflict with a review)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.records import FIELDS, closest
from assistant.redact import format_counts

from .items import Loaded, Reject

REASONS_SHOWN = 3  # reasons listed per file; the rest are counted


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)
    taxonomy: str | None = None
    chunks_written: int = 0
    chunks_removed: int = 0
    embedded: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    repaired: bool = False
    # values replaced by a placeholder, per kind (手机号, 身份证号, ...), in the records added or updated
    redacted: dict[str, int] = field(default_factory=dict)
    # (record id, tag) for each tag that is not a value of the installed taxonomy
    unknown_tags: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # records changed in review since their last import whose file version differs from that import:
    # not applied (dicts: id, reviewed_version/_by/_at, imported_version, file, applied)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    # the same, applied on purpose (``overwrite_reviewed``)
    overwritten: list[dict[str, Any]] = field(default_factory=list)
    # records changed in review whose file still holds what was last imported: kept, counted unchanged
    kept_reviewed: list[str] = field(default_factory=list)
    # the file each record was read from (ingest_paths), for a table per file
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged) + len(self.removed) + len(self.conflicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
            "removed": len(self.removed), "rejected": [r.to_dict() for r in self.rejected],
            "taxonomy": self.taxonomy, "chunks_written": self.chunks_written,
            "chunks_removed": self.chunks_removed, "embedded": self.embedded,
            "embed_seconds": round(self.embed_seconds, 3), "seconds": round(self.seconds, 3),
            "chunks_per_second": round(self.chunks_written / self.seconds, 1) if self.seconds else 0.0,
            "redacted": dict(self.redacted),
            "unknown_tags": [{"id": rid, "tag": tag} for rid, tag in self.unknown_tags],
            "warnings": list(self.warnings),
            "conflicts": [dict(c) for c in self.conflicts], "overwritten": [dict(c) for c in self.overwritten],
            "kept_reviewed": list(self.kept_reviewed),
        }

    def notes(self) -> list[str]:
        """Lines for a person, after the counts line: what was redacted, and each warning."""
        out = [f"redacted: {format_counts(self.redacted)}"] if self.redacted else []
        out += [f"warning: {w}" for w in self.warnings]
        out += [f"conflict: {describe_conflict(c)}" for c in self.conflicts]
        out += [f"overwrote: {describe_conflict(c)}" for c in self.overwritten]
        if self.kept_reviewed:
            out.append(f"kept as reviewed (the file holds what was last imported): {', '.join(self.kept_reviewed)}")
        return out


def describe_conflict(c: dict[str, Any], overwrite: str = "--overwrite-reviewed") -> str:
    """One line naming both versions of a record changed in review since its last import."""
    reviewed = f"version {c['reviewed_version']} by {c['reviewed_by']} at {c['reviewed_at']}"
    since = f" (after imported version {c['imported_version']})" if c.get("imported_version") else ""
    file = c.get("file") or "the file"
    if c.get("applied"):
        return f"{c['id']}: the version in {file} replaced reviewed {reviewed}{since} ({overwrite})"
    return (f"{c['id']}: changed in review since its last import: kept {reviewed}{since}; the version in "
            f"{file} was not applied ({overwrite} applies it)")


def ignored_fields(loaded: Sequence[Loaded], shown: int = 3) -> list[str]:
    """One warning per file and field that a record did not store, with the lines it was on and the
    field it was probably meant to be."""
    lines: dict[tuple[str, str, str], list[int]] = {}
    for item in loaded:
        for name in item.ignored:
            lines.setdefault((item.file, item.record.kind, name), []).append(item.line)
    out = []
    for (file, kind, name), at in lines.items():
        where = ", ".join(map(str, at[:shown])) + (f" and {len(at) - shown} more" if len(at) > shown else "")
        meant = closest(name, FIELDS[kind])
        hint = f"; did you mean {meant!r}?" if meant else ""
        a_kind = f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"
        lines_ = f"line{'s' if len(at) > 1 else ''} {where}"
        out.append(f"{file}: {name!r} is not {a_kind} field and was not stored ({lines_}){hint}")
    return out


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

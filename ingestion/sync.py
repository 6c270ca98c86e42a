"""A folder kept in sync (``casepilot ingest DIR --sync``): what is new or changed is imported, and
the articles whose file is gone, or that their file no longer holds, leave the library (soft-deleted:
their versions stay in the audit log). ``--dry-run`` computes the same plan and changes nothing.

Records remember the file they were last imported from (``records.source``, written by every command
line import), so a sync finds them. Only articles are removed: a case may carry a reviewer's work and a
ticket its draft's provenance, so those are listed as kept, for ``casepilot delete`` or ``review archive``.
A file that was read with errors removes nothing: a record on its bad line is not "gone".
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.records import content_hash

from .loaders import Loaded, Reject, load_paths
from .pipeline import Ingestor
from .report import IngestSummary

REMOVED_KINDS = ("article",)


@dataclass
class Gone:
    id: str
    kind: str
    file: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "kind": self.kind, "file": self.file, "reason": self.reason}


@dataclass
class SyncPlan:
    remove: list[Gone] = field(default_factory=list)
    keep: list[Gone] = field(default_factory=list)  # gone from their files, but not removed (and why)
    # with a dry run: what the import would do
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"removed": [g.to_dict() for g in self.remove], "kept": [g.to_dict() for g in self.keep]}


def scopes(paths: Sequence[str | Path]) -> list[str]:
    """The source prefixes a sync of ``paths`` owns: a folder with its trailing separator, or a file."""
    out = []
    for p in map(Path, paths):
        r = p.resolve()
        out.append(str(r) + os.sep if p.is_dir() else str(r))
    return out


def plan(ingestor: Ingestor, paths: Sequence[str | Path], kind: str | None = None, fmt: str | None = None,
         *, dry_run: bool = False) -> SyncPlan:
    """What a sync of ``paths`` removes and keeps; with ``dry_run``, also what it would import."""
    lib = ingestor.lib
    out = SyncPlan()
    loaded: list[Loaded] = []
    for item in load_paths(paths, kind, fmt, ingestor.document_options()):
        if isinstance(item, Reject):
            out.rejected.append(item)
        elif isinstance(item, Loaded):
            loaded.append(item)
    seen = {x.record.id for x in loaded}
    unreadable = {str(Path(r.file).resolve()) for r in out.rejected}
    for scope in scopes(paths):
        for rid, rkind, source in lib.store.sourced(lib.tenant, scope):
            if rid in seen:
                continue
            exists = Path(source).exists()
            if exists and source in unreadable:
                continue  # its line may be the bad one: nothing is removed until the file reads cleanly
            reason = "its file is gone" if not exists else "its file no longer holds it"
            if rkind in REMOVED_KINDS:
                out.remove.append(Gone(rid, rkind, source, reason))
            else:
                out.keep.append(Gone(rid, rkind, source, f"{reason}; a sync removes articles only (casepilot "
                                                         f"delete {rid} removes it)"))
    if dry_run:
        out.sources = {x.record.id: x.file for x in loaded}
        records = [ingestor.redact(x.record) for x in loaded]  # hashed as the import would store them
        stored = lib.store.content_hashes(lib.tenant, [r.id for r in records])
        for r in records:
            old = stored.get(r.id)
            if old is None or old[1]:
                out.added.append(r.id)
            elif old[0] != content_hash(r):
                out.updated.append(r.id)
            else:
                out.unchanged.append(r.id)
    return out


def sync(ingestor: Ingestor, paths: Sequence[str | Path], kind: str | None = None,
         fmt: str | None = None) -> tuple[IngestSummary, SyncPlan]:
    """Import ``paths`` and remove the articles the plan names; the import's summary counts them as
    removed (``summary.sources`` names their files)."""
    p = plan(ingestor, paths, kind, fmt)
    summary = ingestor.ingest_paths(paths, kind, fmt)
    if p.remove:
        lib = ingestor.lib
        lib.indexes.ensure_synced()  # as Ingestor.delete, counting the chunks that leave the indexes
        deleted, _unknown, chunks = lib.store.delete(lib.tenant, [g.id for g in p.remove], actor=ingestor.actor)
        lib.indexes.apply([], chunks)
        lib.indexes.finish()
        summary.removed += deleted
        summary.chunks_removed += len(chunks)
        summary.sources.update({g.id: _shown(g.file) for g in p.remove})
    return summary, p


def _shown(path: str) -> str:
    """A removed record's file as the import names the others: relative to here when it is below."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel

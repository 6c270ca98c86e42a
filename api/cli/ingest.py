"""``casepilot ingest`` (with its table per file, and ``--sync`` with ``--dry-run``) and
``casepilot delete``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from assistant.errors import InputError
from assistant.ids import id_fault, normalise_id

from .common import emit, open_library

# The import pipeline (ingestion.pipeline, .sync, .report: loaders, document converters) and the
# progress bars are imported by the commands that use them: together about 0.15 s that every other
# command (search, ask, chat, status) would otherwise spend at start-up, since the parser loads this module.


def print_files(summary: Any, removed_why: Any = ()) -> None:
    """The table per file, after the counts line (only when there is more than one file, or something
    to explain)."""
    from ingestion.report import format_table, per_file  # lazy: see the top

    rows = per_file(summary, removed_why)
    if len(rows) > 1 or any(r["why"] for r in rows):
        for line in format_table(rows):
            print(line)


def cmd_sync(args: argparse.Namespace, lib: Any, ingestor: Any) -> tuple[Any, Any]:
    """``ingest --sync``: the plan (``--dry-run``: printed, nothing changed) or the sync. Returns the
    import's summary (None for a dry run) and the plan."""
    from ingestion.sync import plan, sync  # lazy: see the top

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


def cmd_ingest(args: argparse.Namespace) -> int:
    from ingestion.pipeline import Ingestor  # lazy: see the top
    from ingestion.report import describe_conflict, per_file

    from .progress import progress_factory

    if args.dry_run and not args.sync:
        raise InputError("--dry-run shows what --sync would do; add --sync")
    lib = open_library(args, create=not args.dry_run)  # a plan changes nothing, not even a missing home
    plan = None
    with lib.write_lock():
        ingestor = Ingestor(lib, progress=progress_factory(not args.json), overwrite_reviewed=args.overwrite_reviewed,
                            record_sources=True, product=args.product)
        if args.sync:
            found, plan = cmd_sync(args, lib, ingestor)
        else:
            found = ingestor.ingest_paths(args.paths, args.kind, args.format)
    if found is None:  # a dry run
        assert plan is not None
        for r in plan.rejected:
            print(f"rejected: {r}", file=sys.stderr)
        out = print_plan(plan, args.json)
        if args.json:
            emit(out)
        return 2 if plan.rejected else 0
    summary = found
    removed_why = [(g.id, g.reason) for g in plan.remove] if plan else []
    for r in summary.rejected:
        print(f"rejected: {r}", file=sys.stderr)
    if args.json:
        for c in summary.conflicts:  # named on standard error too: stdout holds only the JSON
            print(f"conflict: {describe_conflict(c)}", file=sys.stderr)
        emit({**summary.to_dict(), "files": per_file(summary, removed_why),
               **({"sync": plan.to_dict()} if plan else {})})
    else:
        d = summary.to_dict()
        print(f"{summary.records} records in {d['seconds']:.1f} s: {d['added']} added, {d['updated']} updated, "
              f"{d['unchanged']} unchanged, {d['removed']} removed, {len(summary.rejected)} rejected"
              + (f", {len(summary.conflicts)} conflicts" if summary.conflicts else ""))
        if summary.chunks_written or summary.chunks_removed:
            # the models run in threads beside the import and each other: their seconds add up past the wall clock
            model = f" ({summary.embed_seconds:.1f} s of model time, beside the import)" if summary.embedded else ""
            print(f"chunks: {summary.chunks_written} written ({d['chunks_per_second']}/s), "
                  f"{summary.chunks_removed} removed; {summary.embedded} texts embedded{model}")
        elif summary.records and not (d["added"] or d["updated"] or d["removed"]):
            print("nothing changed")
        elif summary.records:
            print("search index unchanged: no searchable text changed (tickets are kept for drafting, not searched)")
        if summary.taxonomy:
            print(f"taxonomy: {summary.taxonomy}")
        for line in summary.notes():
            print(line)
        if summary.repaired:
            print("note: the indexes had fallen behind the store (an interrupted run?) and were repaired")
        if plan:
            print_removals(plan)
        print_files(summary, removed_why)
    # a conflict (a record changed in review since its last import) is reported after the rest is imported
    return 2 if summary.rejected or summary.conflicts else 0


def cmd_delete(args: argparse.Namespace) -> int:
    from ingestion.pipeline import Ingestor  # lazy: see the top

    lib = open_library(args)
    ids, faults = [], []
    for raw in args.ids:
        fault = id_fault(raw)
        if fault is None:
            ids.append(normalise_id(raw))
        elif lib.store.get(lib.tenant, raw) is not None:  # stored before ids were checked: deletable as it is
            ids.append(raw)
        else:
            faults.append(f"id {raw!r} {fault}")
    with lib.write_lock():
        deleted, unknown = Ingestor(lib, actor="cli").delete(ids) if ids else ([], [])
    if args.json:
        emit({"deleted": deleted, "unknown": unknown})
    else:
        for rid in deleted:
            print(f"deleted {rid}")
    for rid in unknown:  # the tenant may come from $CASEPILOT_TENANT
        print(f"casepilot: error: no record {rid!r} in tenant {lib.tenant!r}", file=sys.stderr)
    for fault in faults:
        print(f"casepilot: error: {fault}", file=sys.stderr)
    return 2 if unknown or faults else 0


def register_ingest(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``ingest`` and ``delete`` to the ``casepilot`` sub-command parser."""
    s = sub.add_parser("ingest", parents=[common], help="import cases, articles, FAQs, tickets or a taxonomy",
                       description="Import JSON Lines (cases, articles, tickets), FAQ CSV (id,question,answer[,tags]), "
                                   "Markdown with YAML front matter, a taxonomy YAML, or documents (PDF, HTML, .docx, "
                                   ".txt) as articles. Folders are walked. "
                                   "Re-importing unchanged records changes nothing. A record changed in review "
                                   "since its last import is kept and reported as a conflict (exit 2) when the "
                                   "file's version differs from that import, unless --overwrite-reviewed.")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--overwrite-reviewed", action="store_true",
                   help="apply the file's version of records changed in review since their last import "
                        "(audited as overwrite_reviewed)")
    s.add_argument("--kind", choices=["case", "article", "faq", "ticket", "taxonomy"],
                   help="what the files hold, where a record does not say")
    s.add_argument("--product", default="", help="the product of every document (PDF, HTML, .docx, .txt) "
                   "imported, unless its sidecar FILE.meta.yaml names one (docs/documents.md)")
    s.add_argument("--format", choices=["zendesk", "freshdesk", "turns-csv"],
                   help="read the files as this helpdesk export (default: told by their content; docs/importing.md)")
    s.add_argument("--sync", action="store_true",
                   help="keep the library in step with PATH: also remove the articles whose files are gone")
    s.add_argument("--dry-run", action="store_true", help="with --sync: show the plan and change nothing")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("delete", parents=[common], help="delete records (kept in the audit log)",
                       description="Delete records by id: they leave the indexes at once and are never cited "
                                   "again; their versions stay in the audit log. Unknown ids are reported "
                                   "(exit 2) and the known ones are still deleted. To take a case out of "
                                   "retrieval but keep it, use: casepilot review archive ID")
    s.add_argument("ids", nargs="+", metavar="ID", help="record ids (cases, articles, FAQs, tickets)")
    s.set_defaults(func=cmd_delete)

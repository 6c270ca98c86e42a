"""``casepilot history``: a case's versions, a diff of two, and restoring an earlier one."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from assistant.ids import check_id, one_line

from .common import emit, open_library


def cmd_history(args: argparse.Namespace) -> int:
    from assistant.history import History  # lazy, like the review workflow (api/cli/review.py)
    from ingestion.pipeline import Ingestor

    rid = check_id(args.id, "the case id")
    lib = open_library(args)
    if args.restore is not None:
        actor = args.reviewer or getpass.getuser() or "reviewer"
        with lib.write_lock():
            version, warnings = History(lib, writer=Ingestor).restore(rid, args.restore, actor)
        if args.json:
            emit({"id": rid, "version": version, "restored_from": args.restore, "warnings": warnings})
        else:
            for w in warnings:
                print(f"warning: {w}")
            print(f"{rid}: version {args.restore} restored as version {version} by {actor}")
        return 0
    h = History(lib)
    if args.diff:
        d = h.diff(rid, *args.diff)
        if args.json:
            emit(d.to_dict())
        else:
            _print_diff(d)
        return 0
    vs = h.versions(rid)
    if args.json:
        emit({"id": rid, "versions": [vars(v) for v in vs]})
        return 0
    for v in vs:
        what = (f"restored from v{v.restored_from}; " if v.restored_from else "") + (", ".join(v.changed) or "-")
        print(f"v{v.version:<3} {v.at[:16].replace('T', ' ')}  {v.actor:<12} {v.action:<8} {v.status:<10} {what}")
    print(f"{rid}  {one_line(vs[-1].title)}: compare with --diff A B, restore with --restore N")
    return 0


def _print_diff(d: Any) -> None:
    print(f"{d.id}: version {d.from_version} → {d.to_version}")
    if not d.changes:
        print("  no differences")
    for c in d.changes:
        if c.kind == "text":
            print(f"{c.field}:")
            for line in c.diff:
                print(f"  {line}")
        elif c.kind == "list":
            print(f"{c.field}: " + "  ".join([*(f"+ {x}" for x in c.added), *(f"- {x}" for x in c.removed)]))
        else:
            print(f"{c.field}: {c.before!r} → {c.after!r}")


def register_history(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("history", parents=[common], help="a case's versions: list, compare, restore",
                       description="List the versions of a case or article (who, when, which fields changed), "
                                   "compare two section by section, or restore an earlier one. A restore "
                                   "writes a new version with the earlier content (the case keeps its status; "
                                   "nothing is rewritten) and is audited as restore.",
                       epilog="examples: casepilot history C-000102; casepilot history C-000102 --diff 1 3; "
                              "casepilot history C-000102 --restore 2 --reviewer alice")
    s.add_argument("id", metavar="ID", help="the case or article")
    g = s.add_mutually_exclusive_group()
    g.add_argument("--diff", nargs=2, type=int, metavar=("A", "B"), help="what changed from version A to B")
    g.add_argument("--restore", type=int, metavar="N", help="write version N's content as a new version")
    s.add_argument("--reviewer", "--as", dest="reviewer", metavar="NAME",
                   help="who restores (default: the login name)")
    s.set_defaults(func=cmd_history)

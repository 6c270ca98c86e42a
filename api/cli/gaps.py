"""``casepilot gaps``: the questions the library could not answer, newest first; with ``--group`` the
same grouped into work (count, trend, wordings, tickets, the agents' replies in those tickets); and
``gaps draft KEY``, which drafts a group's missing article into the review queue (docs/gaps.md)."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from assistant.errors import InputError
from assistant.gaps import report_dict, unanswered
from assistant.ids import one_line
from assistant.library import Library

from .common import emit, open_library

REPLIES_SHOWN = 3  # a group's agents' replies printed in the terminal (--json has them all)


def cmd_gaps(args: argparse.Namespace) -> int:
    if args.action == "draft":
        if not args.key:
            raise InputError("gaps draft needs a group's KEY (casepilot gaps --group shows each group's key)")
        lib = open_library(args)
        with lib.write_lock():
            return _draft(args, lib)
    if args.key:
        raise InputError(f"unexpected {args.key!r}: did you mean casepilot gaps draft {args.key}?")
    lib = open_library(args)
    if args.group:
        return _gap_groups(args, lib)
    rows = unanswered(lib.store, lib.tenant, args.limit)
    if args.json:
        emit({"unanswered": [asdict(g) for g in rows]})
    else:
        if not rows:
            print("no unanswered questions recorded")
        for g in rows:
            print(f"{g.at}  {g.question}" + (f"  (ticket {g.ticket})" if g.ticket else ""))
    return 0


def _gap_groups(args: argparse.Namespace, lib: Library) -> int:
    from assistant.gap_drafts import group_extra, library_report  # lazy: the review workflow's imports

    report = library_report(lib, days=args.days)
    extra = group_extra(lib)
    if args.json:
        emit(report_dict(report, args.limit, extra))
        return 0
    if not report.groups:
        print(f"no unanswered or unhelpful questions in the last {args.days} days")
        return 0
    print(f"write this next: the last {args.days} days' unanswered and unhelpful questions, grouped by meaning "
          f"({len(report.groups)} groups; change against the {args.days} days before; "
          f"casepilot gaps draft KEY drafts one for review)")
    for g in report.groups[: args.limit]:
        others = [e for e in g.examples if e != g.question]
        print(f"{g.count:>5}  {g.trend:+d}  {one_line(g.question)}   [{g.key}]")
        if others:
            print(f"             also: {' / '.join(one_line(e) for e in others)}")
        if g.reasons.get("not helpful"):
            print(f"             {g.reasons['not helpful']} rated not helpful")
        if g.tickets:
            shown = ", ".join(g.tickets[:5]) + (f" and {len(g.tickets) - 5} more" if len(g.tickets) > 5 else "")
            print(f"             tickets: {shown}")
        shown_extra = extra(g)
        said = shown_extra["replies"]
        for r in said[:REPLIES_SHOWN]:
            print(f"             agent replied ({r['ticket_id']}#{r['message_id']}): "
                  f"{one_line(r['text'].replace(chr(10), ' '))}")
        if len(said) > REPLIES_SHOWN:
            print(f"             and {len(said) - REPLIES_SHOWN} more replies (--json has them all)")
        if shown_extra["draft"]:
            print(f"             drafted: {shown_extra['draft']['case_id']} ({shown_extra['draft']['status']})")
    return 0


def _draft(args: argparse.Namespace, lib: Library) -> int:
    from assistant.gap_drafts import draft_group  # lazy: the review workflow's imports
    from ingestion.pipeline import Ingestor

    d, cid = draft_group(lib, args.key, writer=Ingestor, actor="gap-drafting", days=args.days)
    key = cid.removeprefix("GD-")  # the group's own key, when KEY named one of its other wordings
    if args.json:
        emit({"case_id": cid, "key": key, "draft": d.to_dict()})
        return 0
    print(f"{cid}  {d.title}   (from gap group {key}, queued for review: casepilot review show {cid})")
    for s in d.sentences:
        print(f"  {s.section:<9} {one_line(s.text)}  [{', '.join(s.sources) or 'no source!'}]")
    for dup in d.duplicates:
        print(f"  possible duplicate: {dup['id']} {dup['title']} (similarity {dup['similarity']})")
    return 0


def register_gaps(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("gaps", parents=[common], help="questions the library could not answer, newest first",
                       description="The questions the assistant abstained on (asked through ask, chat, the API "
                                   "or a bot), newest first, with the ticket each came from: the cases and "
                                   "articles the library is missing. --json adds each question's support. "
                                   "--group puts the unanswered and unhelpful questions of the last --days "
                                   "days into groups that mean the same, most asked first, each with its key and "
                                   "the agents' replies in its tickets; `gaps draft KEY` drafts a group's "
                                   "article from those replies into the review queue (docs/gaps.md).")
    s.add_argument("action", nargs="?", choices=["draft"], help="draft: draft group KEY for review")
    s.add_argument("key", nargs="?", metavar="KEY", help="with draft: the group's key (gaps --group shows it)")
    s.add_argument("--limit", type=int, default=50, help="at most this many questions or groups (default 50)")
    s.add_argument("--group", action="store_true",
                   help="group by meaning, with counts against the period before (write this next)")
    s.add_argument("--days", type=int, default=30, help="with --group or draft: the period, in days (default 30)")
    s.set_defaults(func=cmd_gaps)

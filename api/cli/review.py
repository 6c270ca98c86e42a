"""``casepilot draft`` and ``casepilot review``: from closed tickets to approved cases."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from assistant.errors import Conflict, DuplicateDraft, InputError
from assistant.ids import check_id, one_line
from assistant.library import Library
from assistant.types import CASE_SECTIONS as SECTIONS

from .common import emit, open_library

# The review workflow, drafting and the import pipeline are imported by the commands that use them:
# about 0.15 s that every other command would otherwise spend at start-up, since the parser loads this module.

SECTIONS_SHOWN = ("title", *SECTIONS)  # what `review show` marks


def _reviewer(args: argparse.Namespace) -> str:
    return args.reviewer or getpass.getuser() or "reviewer"


def _print_draft(d: Any, cid: str | None) -> None:

    if cid is None:
        print(f"{d.ticket_id}: not drafted: {d.skipped}")
        return
    print(f"{cid}  {d.title}   (from {d.ticket_id}, queued for review)")
    names = {"problem": "问题描述", "diagnosis": "诊断过程", "solution": "解决方案", "outcome": "结果与反馈"}
    for sec in SECTIONS:
        sents = [s for s in d.sentences if s.section == sec]
        if not sents:
            print(f"  {names[sec]}: （空）")
            continue
        print(f"  {names[sec]}:")
        for s in sents:
            src = ",".join(s.sources) if s.sources else "无来源!"
            print(f"    - {s.text}  [{src}]")
    if d.tags:
        print("  tags: " + ", ".join(f"{t} ({c:.2f})" for t, c in d.tags))
    for dup in d.duplicates:
        print(f"  possible duplicate: {dup['id']} {dup['title']} (similarity {dup['similarity']})")


def cmd_draft(args: argparse.Namespace) -> int:
    lib = open_library(args, create=bool(args.files))  # ticket files are imported first
    with lib.write_lock():
        return _draft(args, lib)


def _draft(args: argparse.Namespace, lib: Library) -> int:
    from assistant.review import Review  # lazy: see the top
    from ingestion.pipeline import Ingestor

    review = Review(lib, writer=Ingestor, actor="drafting")
    ids: list[str] = [check_id(t, "the ticket id") for t in args.ticket or []]
    rejected = 0
    if args.files:
        summary = Ingestor(lib).ingest_paths(args.files, kind="ticket")
        rejected = len(summary.rejected)
        for bad in summary.rejected:
            print(f"rejected: {bad}", file=sys.stderr)
        tickets = {r.id for r in lib.store.records(lib.tenant, kind="ticket")}
        ids += [i for i in summary.added + summary.updated + summary.unchanged if i in tickets]
    if args.all:
        run = review.draft_all()
        if args.json:
            emit({"drafted": run.drafted, "skipped": [{"ticket": t, "reason": r} for t, r in run.skipped],
                   "already_drafted": run.already})
        else:
            print(f"{len(run.drafted)} drafted, {len(run.skipped)} skipped, {len(run.already)} drafted before")
            for t, r in run.skipped:
                print(f"  skipped {t}: {r}")
        return 0
    if not ids:
        raise InputError("give a ticket file, --ticket ID or --all")
    for tid in ids:
        d, cid = review.draft(tid, redraft=args.redraft)
        if args.json:
            emit({"case_id": cid, **d.to_dict()})
        else:
            _print_draft(d, cid)
    return 2 if rejected else 0


def cmd_review(args: argparse.Namespace) -> int:
    act = args.action
    if act in ("show", "approve", "reject", "edit", "merge", "archive"):
        if not args.id:
            raise InputError(f"review {act} needs a case id")
        args.id = check_id(args.id, "the case id")
    if args.into:
        args.into = check_id(args.into, "--into")
    lib = open_library(args)
    if args.action in ("list", "show", "stale"):
        return _review(args, lib)
    with lib.write_lock():
        return _review(args, lib)


def _review(args: argparse.Namespace, lib: Library) -> int:
    from assistant.review import Review, parse_edits  # lazy: see the top
    from ingestion.pipeline import Ingestor

    act = args.action
    actor = _reviewer(args)
    review = Review(lib, writer=Ingestor, actor=actor)
    if act == "list":
        q = review.queue()
        if args.json:
            emit({"queue": q})
        elif not q:
            print("nothing waiting for review")
        for item in [] if args.json else q:
            dups = ", ".join(d["id"] for d in item["duplicates"])
            dup = f"   possible duplicate of {dups}" if dups else ""
            when = item["updated_at"][:16]
            print(f"{item['id']}  {one_line(item['title'])}   (ticket {item['ticket_id'] or '-'}, {when}){dup}")
    elif act == "show":
        info = review.show(args.id)
        if args.json:
            emit(info)
        else:
            c = info["case"]
            print(f"{c['id']}  {one_line(c['title'])}   [{info['status']}, version {info['version']}]")
            marks = {k: [i["sentence"] for i in info["instructions"] if i["section"] == k] for k in SECTIONS_SHOWN}
            for sentence in marks["title"]:
                print(f"  ⚠ never quoted, it addresses the assistant: {sentence}")
            for k in SECTIONS_SHOWN[1:]:
                text = str(c.get(k) or "（空）").strip()  # a multi-line section keeps its indent
                print(f"  {k}: " + text.replace("\n", "\n" + " " * (len(k) + 4)))
                for sentence in marks[k]:
                    print(f"  {' ' * len(k)}  ⚠ never quoted, it addresses the assistant: {sentence}")
            for f in info.get("promises") or []:
                print(f"  ⚠ promise [{f['section']}, {f['label']}]: {one_line(f['sentence'])}  ({f['why']})")
            print(f"  tags: {', '.join(c.get('tags') or []) or '-'}   product: {c.get('product') or '-'}")
            st = info["stats"]
            print(f"  cited by {st['cited']} answers; rated helpful {st['helpful']}, not helpful {st['not_helpful']}")
            draft = info["draft"]
            if draft:
                print(f"  drafted from {draft['ticket_id']}; sentences and their messages:")
                for s in draft["payload"].get("sentences", []):
                    print(f"    [{s['section']}] {s['text']}  <- {','.join(s['sources']) or '无来源!'}")
                for d in draft["payload"].get("duplicates", []):
                    print(f"  possible duplicate: {d['id']} {d['title']} (similarity {d['similarity']})")
    elif act == "approve":
        try:
            warnings = review.approve(args.id, actor, parse_edits(args.fields), distinct_reason=args.distinct or "")
        except DuplicateDraft as e:  # the two ways forward, as commands
            into = e.duplicates[0]["id"]
            raise Conflict(f"{e}:\n  casepilot review merge {args.id} --into {into}   (see the merged sections "
                           f"first with --preview)\n  casepilot review approve {args.id} --distinct \"why it is "
                           "a case of its own\"") from None
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        print(f"{args.id} approved by {actor}; it is citable now")
    elif act == "reject":
        review.reject(args.id, actor, args.reason or "")
        print(f"{args.id} rejected by {actor}: {args.reason}")
    elif act == "edit":
        for w in review.edit(args.id, actor, parse_edits(args.fields)):
            print(f"warning: {w}", file=sys.stderr)
        print(f"{args.id} edited by {actor}")
    elif act == "merge":
        if not args.into:
            raise InputError("review merge needs --into CASE_ID")
        merged = review.merge(args.id, args.into, actor, parse_edits(args.fields), preview=args.preview)
        if args.json:
            emit({"into": args.into, "preview": args.preview, "merged": merged})
        else:
            print(f"{args.id} would merge into {args.into} as:" if args.preview
                  else f"{args.id} merged into {args.into} by {actor}; the case now reads:")
            for k, v in merged.items():
                text = "; ".join(v) if isinstance(v, list) else (v.strip() or "（空）")
                print(f"  {k}: " + text.replace("\n", "\n" + " " * (len(k) + 4)))
    elif act == "archive":
        review.archive(args.id, actor)
        print(f"{args.id} archived; it is no longer cited")
    elif act == "stale":
        rows = review.stale()
        if args.json:
            emit({"stale": rows})
        else:
            print("no stale cases" if not rows else "\n".join(
                f"{r['id']}  {one_line(r['title'])}: {'; '.join(r['reasons'])}" for r in rows))
    elif act == "set-version":
        if len(args.fields) != 1 or not args.id:
            raise InputError("review set-version PRODUCT VERSION (quote a product name that holds a space)")
        review.set_product_version(args.id, args.fields[0])
        print(f"{args.id} is now at version {args.fields[0]}")
        products = review.lib.store.products(review.lib.tenant, kinds=("case",))
        if args.id.strip() not in products:
            known = ", ".join(sorted(products)[:10]) or "none"
            print(f"warning: no case names the product {args.id!r}, so none can be found stale by it "
                  f"(products of cases: {known})", file=sys.stderr)
    return 0


def register_review(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("draft", parents=[common], help="draft cases from closed tickets, queued for review",
                       description="Turn closed tickets into case drafts (problem, diagnosis, solution, outcome; "
                                   "each sentence with the ids of the messages it came from), queued as in_review. "
                                   "Tickets that were not resolved are skipped with the reason.")
    s.add_argument("files", nargs="*", metavar="TICKET_FILE", help="JSON Lines tickets to import and draft")
    s.add_argument("--ticket", action="append", metavar="ID", help="draft a stored ticket; repeatable")
    s.add_argument("--all", action="store_true", help="draft every stored ticket without a draft")
    s.add_argument("--redraft", action="store_true", help="draft again a ticket that was already decided")
    s.set_defaults(func=cmd_draft)

    s = sub.add_parser("review", parents=[common], help="the review queue: list, show, approve, reject, edit, merge",
                       description="Review drafted cases. approve [field=value ...] makes a case citable at once; "
                                   "reject needs --reason; a likely duplicate needs approve --distinct REASON or "
                                   "a merge; edit field=value keeps versions; merge ID [field=value ...] --into "
                                   "CASE merges the draft's sections and ticket into an existing case (--preview "
                                   "shows them); stale lists cases due for "
                                   "re-review; set-version PRODUCT VERSION records a product's current version.")
    s.add_argument("action", choices=["list", "show", "approve", "reject", "edit", "merge", "archive", "stale",
                                      "set-version"])
    s.add_argument("id", nargs="?", metavar="ID")
    s.add_argument("fields", nargs="*", metavar="FIELD=VALUE", help="edits (tags=a;b splits tags)")
    s.add_argument("--reason", help="why a draft is rejected")
    s.add_argument("--into", metavar="CASE_ID", help="with merge: the approved case to merge into")
    s.add_argument("--preview", action="store_true", help="with merge: show the merged sections, write nothing")
    s.add_argument("--distinct", metavar="REASON",
                   help="with approve: why a draft flagged as a likely duplicate is a case of its own (audited)")
    s.add_argument("--as", dest="reviewer", metavar="NAME", help="who decides (default: the login name)")
    s.set_defaults(func=cmd_review)

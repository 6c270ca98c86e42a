"""What every ``casepilot`` command module shares: opening the library of ``--home`` / ``--tenant``,
printing JSON, progress bars and reading ``--batch`` files. The command modules import this, never
the ``api.cli`` hub that registers them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from assistant.errors import InputError
from assistant.library import Library
from assistant.settings import Settings, load_settings


def progress_factory(enabled: bool) -> Any:
    from tqdm import tqdm

    def make(total: int, desc: str) -> Any:
        if desc == "ingest" and enabled:  # a bar with chunks and the embedding rate, or plain lines
            from api.cli.ingest import ImportProgress

            return ImportProgress(total, sys.stderr)
        return tqdm(total=total, desc=desc, unit="rec" if desc == "ingest" else "chunk", file=sys.stderr,
                    disable=None if enabled else True, dynamic_ncols=True, leave=False)

    return make


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
    return Library(settings, create=create)

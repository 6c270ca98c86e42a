"""``casepilot tags suggest``: taxonomy tags for a text, each with a confidence: the confident picks
and, always, the best candidates (also when it abstains from a pick). ``casepilot tags taxonomy``:
the tenant's taxonomy, and its export as YAML (``casepilot ingest --kind taxonomy FILE`` imports one).

    casepilot tags suggest TEXT... [-k N] [--json]     # {"tags": [{"tag", "confidence"}], "abstained", "candidates"}
    casepilot tags suggest --batch FILE --json         # one {"text", "tags", "abstained", "candidates"} a line
    casepilot tags taxonomy [--export FILE] [--version N] [--json]
                                                       # {"tenant", "version", "created_at", "actor", "origin",
                                                       #  "dimensions": {dimension: [value...]}, "exported"}
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from assistant.errors import ConfigError, InputError
from assistant.tagging import TagSuggester
from assistant.taxonomy import Taxonomy

from .common import batch_lines, emit, open_library


def _print_suggestion(text: str, s: Any) -> None:
    """One candidate a line, best first; those not picked say so."""
    if s.abstained:
        print(f"no tag is likely enough for {text!r} (abstained); the best candidates:" if s.candidates else
              f"no tag is likely enough for {text!r} (abstained)")
    picked = {t for t, _ in s.tags}
    for tag, conf in s.candidates:
        print(f"{conf:.3f}  {tag}" + ("" if tag in picked else "  (candidate, not picked)"))
    if s.fallback:
        print(f"(model not used: {s.fallback})", file=sys.stderr)
    for w in s.warnings:
        print(f"({w})", file=sys.stderr)


def cmd_tags_suggest(args: argparse.Namespace) -> int:
    if args.k is not None and not 1 <= args.k <= 50:
        raise InputError("-k must be between 1 and 50")
    if args.batch and args.text:
        raise InputError("give TEXT or --batch FILE, not both")
    if args.batch and not args.json:
        raise InputError("--batch writes JSON Lines; add --json")
    if not args.batch and not " ".join(args.text or []).strip():
        raise InputError("give the TEXT to tag (or --batch FILE)")
    lib = open_library(args)
    if lib.taxonomy is None:
        raise ConfigError(f"tenant {lib.tenant} has no taxonomy; import one with: "
                          f"casepilot ingest --kind taxonomy FILE --tenant {lib.tenant}")
    suggester = TagSuggester(lib)
    if args.batch:
        for line in batch_lines(args.batch):
            if line:
                emit({"text": line, **suggester.suggest(line, args.k).to_dict()})
        return 0
    text = " ".join(args.text)
    s = suggester.suggest(text, args.k)
    if args.json:
        emit(s.to_dict())
    else:
        _print_suggestion(text, s)
    return 0


def cmd_tags_taxonomy(args: argparse.Namespace) -> int:
    if args.version is not None and args.version < 1:
        raise InputError("--version is 1 or more")
    if args.json and args.export == "-":
        raise InputError("--export - writes the YAML to standard output; leave out --json")
    lib = open_library(args)
    stored = lib.stored_taxonomy(args.version)
    if stored is None:
        which = f"no version {args.version} of a taxonomy" if args.version else "no taxonomy"
        raise ConfigError(f"tenant {lib.tenant} has {which}; import one with: "
                          f"casepilot ingest --kind taxonomy FILE --tenant {lib.tenant}")
    if args.export == "-":
        sys.stdout.write(stored.source)
        return 0
    if args.export:
        Path(args.export).write_text(stored.source, encoding="utf-8")
    tax = Taxonomy.parse(stored.source, f"version {stored.version} of tenant {lib.tenant}'s taxonomy")
    if args.json:
        emit({"tenant": lib.tenant, "version": stored.version, "created_at": stored.created_at,
               "actor": stored.actor, "origin": stored.origin,
               "dimensions": {d: list(values) for d, values in tax.dimensions.items()}, "exported": args.export})
        return 0
    print(f"tenant {lib.tenant}: taxonomy version {stored.version}, stored {stored.created_at} by {stored.actor}"
          + (f" from {stored.origin}" if stored.origin else ""))
    for d, values in tax.dimensions.items():
        print(f"  {d}{' (single)' if tax.is_single(d) else ''}: {', '.join(values)}")
    if args.export:
        print(f"exported to {args.export}")
    return 0


def register_tags(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``tags suggest`` to the ``casepilot`` sub-command parser."""
    t = sub.add_parser("tags", help="suggest tags from the library's taxonomy; show or export the taxonomy",
                       description="Tags come only from the tenant's taxonomy, kept in the database "
                                   "(import one with: casepilot ingest --kind taxonomy FILE).")
    actions = t.add_subparsers(dest="tags_command", required=True, metavar="ACTION")
    s = actions.add_parser("suggest", parents=[common], help="taxonomy tags for a text, with confidences",
                           description="Suggest taxonomy tags for a text from the tags of the most similar "
                                       "approved cases and articles, the taxonomy's synonyms and, with "
                                       "CASEPILOT_LLM=openai:MODEL, the model's choice. The best candidates are "
                                       "always listed; those at or above CASEPILOT_TAG_ABSTAIN_BELOW are picked "
                                       "(one per dimension marked 'single: true'); with none, it abstains.")
    s.add_argument("text", nargs="*", metavar="TEXT")
    s.add_argument("-k", type=int, default=None, help="at most this many candidates (default: CASEPILOT_TAG_TOP_K, 5)")
    s.add_argument("--batch", metavar="FILE", help="one text a line; prints one JSON object a line")
    s.set_defaults(func=cmd_tags_suggest)

    x = actions.add_parser("taxonomy", parents=[common], help="the tenant's taxonomy; --export writes it as YAML",
                           description="Show the tenant's taxonomy (each tenant has its own, kept in the database "
                                       "with every earlier version), or export it as the YAML it was imported as. "
                                       "Import one with: casepilot ingest --kind taxonomy FILE.")
    x.add_argument("--export", metavar="FILE", help="write the taxonomy's YAML to FILE ('-': standard output)")
    x.add_argument("--version", type=int, default=None, metavar="N",
                   help="an earlier version (each import that changed the taxonomy made one)")
    x.set_defaults(func=cmd_tags_taxonomy)

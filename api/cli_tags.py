"""``casepilot tags suggest``: taxonomy tags for a text, each with a confidence: the confident picks
and, always, the best candidates (also when it abstains from a pick).

    casepilot tags suggest TEXT... [-k N] [--json]     # {"tags": [{"tag", "confidence"}], "abstained", "candidates"}
    casepilot tags suggest --batch FILE --json         # one {"text", "tags", "abstained", "candidates"} a line
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from assistant.errors import ConfigError, InputError


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
    from api.cli import _batch_lines, _emit, _library
    from assistant.tagging import TagSuggester

    if args.k is not None and not 1 <= args.k <= 50:
        raise InputError("-k must be between 1 and 50")
    if args.batch and args.text:
        raise InputError("give TEXT or --batch FILE, not both")
    if args.batch and not args.json:
        raise InputError("--batch writes JSON Lines; add --json")
    if not args.batch and not " ".join(args.text or []).strip():
        raise InputError("give the TEXT to tag (or --batch FILE)")
    lib = _library(args)
    if lib.taxonomy is None:
        raise ConfigError(f"no taxonomy at {lib.settings.taxonomy_path}; import one with: "
                          "casepilot ingest --kind taxonomy FILE")
    suggester = TagSuggester(lib)
    if args.batch:
        for line in _batch_lines(args.batch):
            if line:
                _emit({"text": line, **suggester.suggest(line, args.k).to_dict()})
        return 0
    text = " ".join(args.text)
    s = suggester.suggest(text, args.k)
    if args.json:
        _emit(s.to_dict())
    else:
        _print_suggestion(text, s)
    return 0


def register_tags(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``tags suggest`` to the ``casepilot`` sub-command parser."""
    t = sub.add_parser("tags", help="suggest tags from the library's taxonomy",
                       description="Tags come only from the taxonomy (taxonomy.yaml in CASEPILOT_HOME).")
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

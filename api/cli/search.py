"""``casepilot search``: hybrid search over the library, one query or a ``--batch`` file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from assistant.errors import InputError
from assistant.ids import one_line
from assistant.index.filters import Filters
from assistant.library import Library

from .common import batch_lines, emit, reading_library


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
            if "prior" in h.explain:
                pr = h.explain["prior"]
                print(f"    ratings of similar questions: ×{pr['factor']:.3f} (net {pr['net']:+.2f} from "
                      f"{pr['raters']} rater{'s' if pr['raters'] != 1 else ''})")


def cmd_search(args: argparse.Namespace) -> int:
    filters = Filters.parse(args.filter or [])
    if args.k < 1 or args.k > 100:
        raise InputError("-k must be between 1 and 100")
    lib = reading_library(args)
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


def register_search(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``search`` to the ``casepilot`` sub-command parser."""
    s = sub.add_parser("search", parents=[common], help="hybrid search over the library",
                       description="Search approved cases and published articles (two embedding spaces and a "
                                   "keyword index, fused).")
    s.add_argument("query", nargs="*", metavar="QUERY")
    s.add_argument("-k", type=int, default=5, help="how many records to return (default 5)")
    s.add_argument("--filter", action="append", metavar="KEY=VALUE",
                   help="kind=, status= (or status=any), product= (a whole product name), tag=, id=; repeatable")
    s.add_argument("--batch", metavar="FILE", help="one query a line (needs --json); prints one JSON object a line")
    s.add_argument("--explain", action="store_true",
                   help="show each retriever's rank and score, and what ratings of similar questions did to it")
    s.set_defaults(func=cmd_search)

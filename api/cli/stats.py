"""``casepilot stats``: the desk's hot spots in a terminal table (``--json``: the shape of ``GET /v1/stats``)."""

from __future__ import annotations

import argparse
import unicodedata
from typing import Any

from assistant.ids import one_line
from assistant.stats import DEFAULT_DAYS, DeskReport, Volume, desk_report, report_dict

from .common import emit, open_library


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _cell(text: str, width: int) -> str:
    """``text`` cut (with …) or padded to ``width`` terminal columns (a CJK character takes two)."""
    if _width(text) > width:
        while _width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _width(text))


def _pct(share: float | None) -> str:
    return "—" if share is None else f"{100 * share:.0f}%"


def _change(v: Volume) -> str:
    return f"{v.change:+d}" + (f" ({v.change_pct:+.0f}%)" if v.change_pct is not None else "")


def _volume_table(title: str, rows: list[Volume], r: DeskReport, total: int) -> None:
    print()
    if not rows:
        print(f"{title}: none in either period")
        return
    print(title + (f" (the top {len(rows)} of {total})" if total > len(rows) else ""))
    print(f"{_cell('', 34)} {'now':>6} {'before':>6}  {'change':<13}" + "".join(f"{w.week[-3:]:>6}" for w in r.weeks))
    for v in rows:
        print(f"{_cell(one_line(v.name), 34)} {v.count:>6} {v.previous:>6}  {_change(v):<13}"
              + "".join(f"{n:>6}" for n in v.weekly))


def print_report(r: DeskReport) -> None:
    print(f"the desk, tenant {r.tenant}: {r.since} to {r.until} ({r.days} days, UTC), against {r.previous_since} "
          f"to {r.previous_until}")
    print()
    print(f"{'week':<10} {'days':>4} {'questions':>10} {'answered':>9} {'rated':>6} {'helpful':>8} {'tickets':>8}")
    for i, w in enumerate(r.weeks):
        print(f"{w.week:<10} {w.days:>4} {r.questions.weekly[i]:>10} {_pct(r.answered_rate.weekly[i]):>9} "
              f"{r.rated.weekly[i]:>6} {_pct(r.helpful_rate.weekly[i]):>8} {r.tickets.weekly[i]:>8}")
    print(f"{'period':<15} {r.questions.count:>10} {_pct(r.answered_rate.current):>9} {r.rated.count:>6} "
          f"{_pct(r.helpful_rate.current):>8} {r.tickets.count:>8}")
    print(f"{'before':<15} {r.questions.previous:>10} {_pct(r.answered_rate.previous):>9} {r.rated.previous:>6} "
          f"{_pct(r.helpful_rate.previous):>8} {r.tickets.previous:>8}")
    print(f"answered: not abstained; helpful: of the rated answers. {r.questions_unattributed.count} questions "
          "cited no record with a product (abstentions among them)")
    _volume_table("questions by product", r.questions_by_product, r, r.groups["questions_by_product"])
    _volume_table("questions by tag", r.questions_by_tag, r, r.groups["questions_by_tag"])
    _volume_table("tickets by product", r.tickets_by_product, r, r.groups["tickets_by_product"])
    _volume_table("tickets by tag", r.tickets_by_tag, r, r.groups["tickets_by_tag"])
    print()
    print(f"answers flagged for promising what their sources do not say: {r.flagged} (casepilot promises)")
    print(f"curated answers: {r.curated_hits} questions answered"
          + ("" if r.curated else " (none yet: casepilot curated add)"))
    for u in r.curated:
        print(f"  {u.id:<8} {u.hits:>5}  {one_line(u.question)}")
    for title, rows in (("most cited", r.ranking.most_cited), ("lowest rated", r.ranking.lowest_rated)):
        print()
        if not rows:
            print(f"{title}: no {'citations' if title == 'most cited' else 'rated citations'} in the period")
            continue
        print(f"{_cell(title, 54)} {'cited':>6} {'helpful':>8} {'not':>5}")
        for x in rows:
            print(f"{_cell(x.id + '  ' + one_line(x.title), 54)} {x.cited:>6} {x.helpful:>8} {x.not_helpful:>5}")


def cmd_stats(args: argparse.Namespace) -> int:
    lib = open_library(args)
    report = desk_report(lib.store, lib.tenant, days=args.days, limit=args.limit)
    if args.json:
        emit(report_dict(report))
    else:
        print_report(report)
    return 0


def register_stats(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``stats`` to the ``casepilot`` sub-command parser."""
    s = sub.add_parser("stats", parents=[common], help="hot spots: volume by product, tag and week; rates; "
                       "the most-cited and lowest-rated records",
                       description="The last --days UTC days (today included) against the days before: questions "
                                   "and tickets by product, tag and ISO week, the share answered without "
                                   "abstaining and the share of rated answers rated helpful, week by week, and "
                                   "the most-cited and lowest-rated records (docs/desk.md).")
    s.add_argument("--days", type=int, default=DEFAULT_DAYS, help=f"the period, in days (default {DEFAULT_DAYS})")
    s.add_argument("--limit", type=int, default=10, help="products, tags and records in each list (default 10)")
    s.set_defaults(func=cmd_stats)

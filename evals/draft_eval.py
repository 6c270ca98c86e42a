"""Drafting quality: how closed tickets become case drafts, and how well duplicates are caught.

1. The 300 real customer-service conversations in ``../shared/data/dev/jddc/`` (JD.com, Chinese)
   are drafted with the default ``extractive`` drafter: how many were drafted, how many skipped and
   why, the share of draft sentences with a source message, and each section's fill rate.
2. Duplicate detection on pairs built from the sample library: each of the 12 sample tickets was
   written about one of the library's cases (the gold pairs below); its draft should be flagged as a
   duplicate of that case and of no other. Precision and recall over a threshold sweep, with the
   default models, choose ``CASEPILOT_DUPLICATE_THRESHOLD``.

3. Draft sentence precision and recall per section against a gold annotation written by reading
   the conversations (``evals/datasets/draft_gold.jsonl``, how it was made: ``evals/datasets/README.md``):
   a draft sentence is right when the annotated span it overlaps most carries its section; an
   annotated span of a conversation worth a case is recalled when draft sentences of one of its
   sections cover at least half of it.

    python -m evals.draft_eval [--dev-data ../shared/data/dev] [--home DIR] [--drafter PATH] [--gold-only]
                               [--gold FILE] [--rules-only]

``--drafter PATH`` drafts with another version of the drafter for a before/after comparison: the
package folder ``assistant/drafting`` of another commit (``git archive REV assistant/drafting | tar -x
-C /tmp/rev``, then ``/tmp/rev/assistant/drafting``), or, for a commit before it became a package, the
file (``git show REV:assistant/drafting.py > /tmp/before.py``). Against the gold
annotation it then also prints, per section, this checkout's precision and recall minus that
version's, with 95% bootstrap intervals over conversations. ``--gold FILE`` scores
against another annotation in the same format (``evals/datasets/draft_gold_heldout.jsonl``: 40 more JDDC
conversations, a tuning set since issue 21's second round; ``draft_gold_heldout2.jsonl``: 40 others, held
out from it); it may hold JDDC conversations only. ``--rules-only`` drafts with this checkout's rules
without the learned sentence models (``evals.train_drafts``). Each report prints per-section 95% bootstrap
intervals over conversations.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from assistant.drafting import Draft, draft_extractive
from assistant.library import Library
from assistant.review import Review
from assistant.settings import Settings
from assistant.types import CASE_SECTIONS
from evals.devdata import DEFAULT_DEV
from evals.versions import load_version
from ingestion.pipeline import Ingestor

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "ingestion" / "sample_library"
GOLD = ROOT / "evals" / "datasets" / "draft_gold.jsonl"
Drafter = Callable[[dict[str, Any]], Draft]
# which case of the sample library each sample ticket is about (read by hand)
TICKET_CASE = {
    "T-2024-0301": "C-000101", "T-2024-0302": "C-000113", "T-2024-0303": "C-000118", "T-2024-0304": "C-000127",
    "T-2024-0305": "C-000128", "T-2024-0306": "C-000132", "T-2024-0307": "C-000115", "T-2024-0308": "C-000105",
    "T-2024-0309": "C-000107", "T-2024-0310": "C-000119", "T-2024-0311": "C-000136", "T-2024-0312": "C-000146",
}


def jddc_tickets(dev: Path) -> list[dict[str, Any]]:
    """The JDDC sessions as tickets: column 3 says who sent a line (1: the agent), column 7 its text."""
    sessions: dict[str, list[dict[str, str]]] = {}
    path = dev / "jddc" / "chat_dev_300_sessions.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 7:
            continue
        sid, who, text = parts[0], parts[2], "\t".join(parts[6:]).strip()
        msgs = sessions.setdefault(sid, [])
        msgs.append({"id": f"m{len(msgs) + 1}", "role": "agent" if who == "1" else "customer", "text": text})
    return [{"id": sid, "subject": "", "status": "closed", "messages": msgs} for sid, msgs in sessions.items()]


def support_tickets(dev: Path, language: str = "en") -> list[dict[str, Any]]:
    """The English/German support tickets (``language``: en, de) as closed two-message tickets: the
    customer's body, then the agent's answer. Ids follow ``devdata.support_ticket_cases`` (ST-<row>)."""
    out = []
    with (dev / "support_tickets" / "tickets_en_de.csv").open(encoding="utf-8", newline="") as f:
        for n, r in enumerate(csv.DictReader(f), 1):
            body, answer = (r.get("body") or "").strip(), (r.get("answer") or "").strip()
            if r.get("language") != language or not body or not answer:
                continue
            msgs = [{"id": "m1", "role": "customer", "text": body.replace("\\n", "\n")},
                    {"id": "m2", "role": "agent", "text": answer.replace("\\n", "\n")}]
            out.append({"id": f"ST-{n:05d}", "subject": (r.get("subject") or "").strip(), "status": "closed",
                        "messages": msgs})
    return out


def drafting_report(tickets: list[dict[str, Any]], drafter: Drafter = draft_extractive) -> dict[str, Any]:
    drafted = []
    reasons: Counter[str] = Counter()
    for t in tickets:
        d = drafter(t)
        if d.skipped:
            reasons[d.skipped.split(" (")[0]] += 1
        else:
            drafted.append(d)
    sentences = [s for d in drafted for s in d.sentences]
    return {
        "tickets": len(tickets), "drafted": len(drafted), "skipped": sum(reasons.values()),
        "skip_reasons": dict(reasons.most_common()),
        "sourced_share": round(sum(bool(s.sources) for s in sentences) / max(1, len(sentences)), 3),
        "fill_rate": {sec: round(sum(bool(d.section(sec)) for d in drafted) / max(1, len(drafted)), 3)
                      for sec in CASE_SECTIONS},
        "sentences_per_draft": round(len(sentences) / max(1, len(drafted)), 1),
    }


def load_gold(path: Path = GOLD) -> list[dict[str, Any]]:
    """The annotated conversations: ``{"set", "id", "draft", "spans": [{"m", "at", "labels", "text"}]}``;
    a span's first label is what it is, later ones are also acceptable sections for it."""
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _where(text: str, sentence: str) -> tuple[int, int]:
    """Where a draft sentence sits in its message (drafted sentences are cut from it, trimmed)."""
    i = text.find(sentence)
    if i >= 0:
        return i, i + len(sentence)
    # a clause was taken out of its middle: from where its start is to where its end is
    i, j = text.find(sentence[:6]), text.find(sentence[-6:])
    return (i, j + 6) if 0 <= i <= j else (0, 0)


def conversation_counts(g: dict[str, Any], ticket: dict[str, Any], d: Draft | None) -> dict[str, Counter[str]]:
    """One annotated conversation's counts per section: ``drafted`` sentences and the ``right`` ones,
    and (if it is worth a case) ``gold`` spans and the ``recalled`` ones."""
    counts = {s: Counter[str]() for s in CASE_SECTIONS}
    texts = {m["id"]: m["text"] for m in ticket["messages"]}
    spans = [(sp, (sp["at"], sp["at"] + len(sp["text"]))) for sp in g["spans"]]
    placed = [] if d is None or d.skipped else [
        (s, s.sources[0] if s.sources else "", _where(texts.get(s.sources[0], ""), s.text) if s.sources else (0, 0))
        for s in d.sentences]
    for s, mid, pos in placed:
        best = max(((_overlap(pos, iv), sp) for sp, iv in spans if sp["m"] == mid), default=(0, None),
                   key=lambda x: x[0])
        counts[s.section]["drafted"] += 1
        counts[s.section]["right"] += bool(best[0] and best[1] and s.section in best[1]["labels"])
    if not g["draft"]:
        return counts
    for sp, iv in spans:
        if sp["labels"][0] not in counts:
            continue
        counts[sp["labels"][0]]["gold"] += 1
        covered = sum(_overlap(pos, iv) for s, mid, pos in placed if mid == sp["m"] and s.section in sp["labels"])
        counts[sp["labels"][0]]["recalled"] += covered * 2 >= iv[1] - iv[0]
    return counts


def section_scores(gold: list[dict[str, Any]], tickets: dict[str, dict[str, Any]],
                   drafts: dict[str, Draft]) -> dict[str, dict[str, float | int]]:
    """Per section: ``precision`` over all draft sentences of the annotated conversations, ``recall``
    over the spans annotated with that section in conversations worth a case (``draft``), with counts."""
    counts = {s: Counter[str]() for s in CASE_SECTIONS}
    for g in gold:
        for sec, c in conversation_counts(g, tickets[g["id"]], drafts.get(g["id"])).items():
            counts[sec].update(c)
    return {sec: {"precision": round(c["right"] / c["drafted"], 3) if c["drafted"] else float("nan"),
                  "recall": round(c["recalled"] / c["gold"], 3) if c["gold"] else float("nan"),
                  "drafted": c["drafted"], "gold": c["gold"]} for sec, c in counts.items()}


def paired_ratio_bootstrap(before: Sequence[tuple[int, int]], after: Sequence[tuple[int, int]],
                           resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``after - before`` of a ratio of sums (e.g. precision: right sentences / drafted sentences), each
    entry being one conversation's ``(hits, total)`` under either drafter, and its 95% percentile
    interval, resampling conversations with replacement and recomputing both ratios on each resample.
    Resamples where either ratio has no denominator are left out; nan when the ratio is undefined."""
    a, b = np.asarray(before, dtype=float).reshape(-1, 2), np.asarray(after, dtype=float).reshape(-1, 2)
    if len(a) != len(b):
        raise ValueError("before and after must hold the same conversations")
    nan = float("nan")
    if not len(a) or not a[:, 1].sum() or not b[:, 1].sum():
        return nan, nan, nan
    idx = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))
    sa, sb = a[idx].sum(axis=1), b[idx].sum(axis=1)  # (resamples, 2): hits, total
    ok = (sa[:, 1] > 0) & (sb[:, 1] > 0)
    point = float(b[:, 0].sum() / b[:, 1].sum() - a[:, 0].sum() / a[:, 1].sum())
    if not ok.any():
        return point, nan, nan
    lo, hi = np.percentile(sb[ok, 0] / sb[ok, 1] - sa[ok, 0] / sa[ok, 1], [2.5, 97.5])
    return point, float(lo), float(hi)


def ratio_interval(pairs: Sequence[tuple[int, int]], resamples: int = 2000,
                   seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of a ratio of sums (``(hits, total)`` per conversation), resampling
    conversations; nan when nothing was counted."""
    zero = [(0, max(1, t)) for _, t in pairs]  # a "before" of ratio 0: the change is the ratio itself
    _, lo, hi = paired_ratio_bootstrap(zero, pairs, resamples, seed)
    return lo, hi


def paired_gold_changes(dev: Path, before: Drafter, after: Drafter = draft_extractive,
                        gold_path: Path = GOLD) -> dict[str, dict[str, dict[str, tuple[float, float, float]]]]:
    """Per annotated set and section, the change (after minus before) of ``precision`` and ``recall``
    with a 95% bootstrap interval over conversations, the unit the two drafters share."""
    gold = load_gold(gold_path)
    tickets = _gold_tickets(dev, gold)
    out: dict[str, dict[str, dict[str, tuple[float, float, float]]]] = {}
    for name in dict.fromkeys(g["set"] for g in gold):
        rows = [g for g in gold if g["set"] == name]
        per = {w: [conversation_counts(g, tickets[g["id"]], fn(tickets[g["id"]])) for g in rows]
               for w, fn in (("before", before), ("after", after))}
        out[name] = {sec: {m: paired_ratio_bootstrap([(c[sec][hit], c[sec][tot]) for c in per["before"]],
                                                     [(c[sec][hit], c[sec][tot]) for c in per["after"]])
                           for m, hit, tot in (("precision", "right", "drafted"), ("recall", "recalled", "gold"))}
                     for sec in CASE_SECTIONS}
    return out


def _gold_tickets(dev: Path, gold: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    sets = {g["set"] for g in gold}  # a gold file may hold JDDC conversations only
    return {t["id"]: t for t in (jddc_tickets(dev) if "jddc" in sets else [])
            + (support_tickets(dev, "en") if "support_tickets_en" in sets else [])}


def gold_report(dev: Path, drafter: Drafter = draft_extractive,
                gold_path: Path = GOLD) -> dict[str, dict[str, Any]]:
    """Section precision and recall on each annotated set, and how the drafter's skips agree with the
    annotation's ``draft`` (a conversation a reviewer would keep as a case)."""
    gold = load_gold(gold_path)
    tickets = _gold_tickets(dev, gold)
    out = {}
    for name in dict.fromkeys(g["set"] for g in gold):
        rows = [g for g in gold if g["set"] == name]
        drafts = {g["id"]: drafter(tickets[g["id"]]) for g in rows}
        agree = Counter((g["draft"], not drafts[g["id"]].skipped) for g in rows)
        per = [conversation_counts(g, tickets[g["id"]], drafts[g["id"]]) for g in rows]
        intervals = {sec: {m: ratio_interval([(c[sec][hit], c[sec][tot]) for c in per])
                           for m, hit, tot in (("precision", "right", "drafted"), ("recall", "recalled", "gold"))}
                     for sec in CASE_SECTIONS}
        out[name] = {"conversations": len(rows), "sections": section_scores(rows, tickets, drafts),
                     "intervals": intervals,
                     "drafted": {"worth a case, drafted": agree[True, True],
                                 "worth a case, skipped": agree[True, False],
                                 "not worth a case, drafted": agree[False, True]}}
    return out


def load_drafter(path: Path | None) -> Drafter:
    """``draft_extractive`` of this checkout, or of another version of ``assistant/drafting`` (a file or
    a package folder: ``evals.versions``)."""
    if path is None:
        return draft_extractive
    fn: Drafter = load_version(path, "drafting").draft_extractive
    return fn


def _num(x: float) -> str:
    return "–" if x != x else f"{x:.2f}"  # nan: nothing to measure


def print_gold_report(report: dict[str, dict[str, Any]]) -> None:
    print("draft sentences against the gold annotation (precision / recall; drafted sentences, gold spans):")
    print("| set | " + " | ".join(CASE_SECTIONS) + " | worth a case: drafted / skipped | not worth one, drafted |")
    print("|---|" + "---|" * len(CASE_SECTIONS) + "---:|---:|")
    for name, r in report.items():
        cells = [f"{_num(c['precision'])} / {_num(c['recall'])} ({c['drafted']}, {c['gold']})"
                 for c in (r["sections"][s] for s in CASE_SECTIONS)]
        a = r["drafted"]
        print(f"| {name} ({r['conversations']}) | " + " | ".join(cells) + f" | {a['worth a case, drafted']} / "
              f"{a['worth a case, skipped']} | {a['not worth a case, drafted']} |")
    print("\n95% bootstrap intervals over conversations (precision / recall):")
    print("| set | " + " | ".join(CASE_SECTIONS) + " |\n|---|" + "---|" * len(CASE_SECTIONS))
    for name, r in report.items():
        cells = [" / ".join(f"[{_num(lo)}, {_num(hi)}]" for lo, hi in (r["intervals"][s]["precision"],
                                                                        r["intervals"][s]["recall"]))
                 for s in CASE_SECTIONS]
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_gold_changes(changes: dict[str, dict[str, dict[str, tuple[float, float, float]]]]) -> None:
    print("after minus before, with 95% paired bootstrap intervals over conversations:")
    print("| set | section | precision | recall |\n|---|---|---|---|")
    for name, secs in changes.items():
        for sec, m in secs.items():
            cells = ["–" if d != d else f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]" for d, lo, hi in
                     (m["precision"], m["recall"])]
            print(f"| {name} | {sec} | {cells[0]} | {cells[1]} |")


def duplicate_sweep(home: Path) -> list[tuple[float, float, float]]:
    lib = Library(Settings(home=home))
    Ingestor(lib).ingest_paths([SAMPLE])
    review = Review(lib, writer=Ingestor)
    lib.settings.duplicate_threshold = -1.0  # every retrieved case, with its similarity
    scored: list[tuple[float, bool]] = []
    for rec in lib.store.records(lib.tenant, kind="ticket"):
        problem = next((m["text"] for m in rec.data.get("messages", []) if m.get("role") == "customer"), "")
        for cand in review.duplicates(rec.data.get("subject", ""), problem):
            scored.append((cand["similarity"], TICKET_CASE.get(rec.id) == cand["id"]))
    lib.close()
    positives = len(TICKET_CASE)
    out = []
    for th in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        flagged = [ok for s, ok in scored if s >= th]
        p = sum(flagged) / len(flagged) if flagged else 1.0
        out.append((th, round(p, 3), round(sum(flagged) / positives, 3)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--home", type=Path, help="keep the imported sample library here")
    ap.add_argument("--drafter", type=Path,
                    help="draft with this version of assistant/drafting (its folder, or an older drafting.py)")
    ap.add_argument("--gold-only", action="store_true", help="only the scores against the gold annotation")
    ap.add_argument("--gold", type=Path, default=GOLD, help="the gold annotation to score against")
    ap.add_argument("--rules-only", action="store_true",
                    help="this checkout's drafter without its learned sentence models (models/draft_sentences.json)")
    args = ap.parse_args(argv)
    this: Drafter = partial(draft_extractive, learned=False) if args.rules_only else draft_extractive
    drafter = load_drafter(args.drafter) if args.drafter else this
    has_dev = (args.dev_data / "jddc").exists() and (args.dev_data / "support_tickets").exists()
    sets = {g["set"] for g in load_gold(args.gold)}
    has_gold_dev = ((args.dev_data / "jddc").exists() or "jddc" not in sets) and (
        (args.dev_data / "support_tickets").exists() or "support_tickets_en" not in sets)
    if has_gold_dev:
        print_gold_report(gold_report(args.dev_data, drafter, args.gold))
        print()
        if args.drafter:  # the given drafter is "before", this checkout's is "after"
            print_gold_changes(paired_gold_changes(args.dev_data, drafter, this, args.gold))
            print()
    else:
        print(f"no JDDC or support-ticket data under {args.dev_data}; gold scores skipped", file=sys.stderr)
    if args.gold_only:
        return 0
    sample = [json.loads(x) for x in (SAMPLE / "tickets.jsonl").read_text(encoding="utf-8").splitlines() if x]
    reports = {"sample tickets": drafting_report(sample, drafter)}
    if has_dev:
        reports["JDDC dev (300 real conversations)"] = drafting_report(jddc_tickets(args.dev_data), drafter)
        tickets = support_tickets(args.dev_data, "en")
        reports[f"English tickets ({len(tickets)})"] = drafting_report(tickets, drafter)
        tickets = support_tickets(args.dev_data, "de")
        reports[f"German tickets ({len(tickets)})"] = drafting_report(tickets, drafter)
    print("| tickets | drafted | skipped (reasons) | sentences with a source | problem / diagnosis / solution / "
          "outcome filled | sentences per draft |\n|---|---:|---|---:|---|---:|")
    for name, r in reports.items():
        reasons = ", ".join(f"{k}: {v}" for k, v in r["skip_reasons"].items()) or "-"
        fill = " / ".join(f"{r['fill_rate'][s]:.2f}" for s in CASE_SECTIONS)
        print(f"| {name}: {r['tickets']} | {r['drafted']} | {r['skipped']} ({reasons}) | {r['sourced_share']:.2f} "
              f"| {fill} | {r['sentences_per_draft']} |")
    home = args.home or Path(tempfile.mkdtemp(prefix="cp-draft-eval-"))
    try:
        sweep = duplicate_sweep(home)
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    print("\nduplicate detection, 12 sample tickets against the sample library's cases (default models):")
    print("| threshold | precision | recall |\n|---:|---:|---:|")
    for th, prec, rec in sweep:
        print(f"| {th} | {prec} | {rec} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

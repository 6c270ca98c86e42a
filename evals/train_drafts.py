"""Train the per-section sentence models of the extractive drafter (``assistant/models/draft_sentences.json``)
on the tuning annotations only: ``evals/datasets/draft_gold.jsonl`` (40 JDDC conversations and 20 English
tickets) and ``draft_gold_heldout.jsonl`` (40 JDDC conversations). ``draft_gold_heldout2.jsonl`` is held
out and never read here.

Every sentence of every message is a row, labelled with the sections of the annotated span it overlaps
most; one logistic model per section learns "this sentence belongs to that section" from who said it,
where, its cues, length and character n-grams. The drafter keeps a sentence the rules place in a section
only when that section's model gives it at least the section's threshold. The thresholds are chosen by
cross-validation over conversations (folds by a hash of the conversation id): each held-out fold is
drafted with the models of the other folds, the real scorer (``evals.draft_eval.conversation_counts``)
counts, and a section's threshold is the lowest whose JDDC precision reaches the target (recall falls as
it rises); where none does, 0: the section is left to the rules. The rules were written on these same
conversations, so the rules' own share of these figures is in-sample.

    python -m evals.train_drafts [--dev-data ../shared/data/dev] [--write] [--target 0.85] [--l2 100]
"""

from __future__ import annotations

import argparse
import sys
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.drafting.cues import split_message
from assistant.drafting.draft import ticket_messages
from assistant.drafting.extractive import draft_extractive
from assistant.drafting.sentence_model import FEATURES, MODEL_FILE, SentenceModels, contexts, features
from assistant.logistic import ANY_EMBEDDER, LogisticModel
from assistant.types import CASE_SECTIONS
from evals.devdata import DEFAULT_DEV
from evals.draft_eval import GOLD, _gold_tickets, _overlap, _where, conversation_counts, load_gold
from evals.logistic_training import fit_logistic, to_model, write_models

TUNING = (GOLD, GOLD.with_name("draft_gold_heldout.jsonl"))
GRID = tuple(round(0.05 * k, 2) for k in range(20))
Rows = list[dict[str, Any]]


def sentence_rows(gold: Sequence[dict[str, Any]], tickets: dict[str, dict[str, Any]]) -> Rows:
    """One row per sentence of the annotated conversations: its conversation, set, features and the
    labels of the span it overlaps most (none: ``[]``)."""
    rows: Rows = []
    for g in gold:
        msgs = ticket_messages(tickets[g["id"]])
        ctx = contexts(msgs)
        for i, m in enumerate(msgs):
            for u, _ in split_message(m["text"], agent=m["role"] == "agent", clean=m["role"] != "system"):
                pos = _where(m["text"], u)
                best: tuple[int, list[str]] = max(((_overlap(pos, (sp["at"], sp["at"] + len(sp["text"]))), sp["labels"])
                            for sp in g["spans"] if sp["m"] == m["id"]), default=(0, []), key=lambda x: x[0])
                rows.append({"conv": g["id"], "set": g["set"], "labels": best[1] if best[0] else [],
                             "f": features(u, ctx[i])})
    return rows


def fit(rows: Rows, l2: float, thresholds: dict[str, float] | None = None) -> dict[str, LogisticModel]:
    x = np.array([[r["f"].get(n, 0.0) for n in FEATURES] for r in rows])
    w = np.ones(len(rows))
    out = {}
    for sec in CASE_SECTIONS:
        y = np.array([float(sec in r["labels"]) for r in rows])
        out[sec] = to_model(fit_logistic(x, y, w, l2=l2), FEATURES, (thresholds or {}).get(sec, 0.5), ANY_EMBEDDER)
    return out


def with_thresholds(models: dict[str, LogisticModel], th: dict[str, float]) -> SentenceModels:
    return SentenceModels({s: LogisticModel(m.features, m.mean, m.scale, m.coef, m.intercept, th[s], m.embedders)
                           for s, m in models.items()})


def fold_of(conv: str, folds: int) -> int:
    return zlib.crc32(conv.encode("utf-8")) % folds


def cross_validate(gold: Sequence[dict[str, Any]], tickets: dict[str, dict[str, Any]], rows: Rows, l2: float,
                   folds: int, grid: Sequence[float] = GRID,
                   chosen: dict[str, float] | None = None) -> dict[tuple[str, str], dict[str, Counter[str]]]:
    """Per (set, threshold) the pooled section counts of the held-out folds, drafted by the rules with the
    models fitted on the other folds, every section at that threshold; with ``chosen`` thresholds, per
    (set, "chosen") and (set, "rules": the rules alone) instead."""
    out: dict[tuple[str, str], dict[str, Counter[str]]] = {}
    for k in range(folds):
        held = [g for g in gold if fold_of(g["id"], folds) == k]
        if not held:
            continue
        models = fit([r for r in rows if fold_of(r["conv"], folds) != k], l2)
        runs: list[tuple[str, SentenceModels | bool]] = (
            [("chosen", with_thresholds(models, chosen)), ("rules", False)] if chosen else
            [(f"{t:.2f}", with_thresholds(models, dict.fromkeys(CASE_SECTIONS, t))) for t in grid])
        for g in held:
            ticket = tickets[g["id"]]
            for name, learned in runs:
                c = conversation_counts(g, ticket, draft_extractive(ticket, learned=learned))
                acc = out.setdefault((g["set"], name), {s: Counter() for s in CASE_SECTIONS})
                for s in CASE_SECTIONS:
                    acc[s].update(c[s])
    return out


def ratio(c: Counter[str], hit: str, tot: str) -> float:
    return c[hit] / c[tot] if c[tot] else float("nan")


def choose(cv: dict[tuple[str, str], dict[str, Counter[str]]], target: float, on: str = "jddc") -> dict[str, float]:
    """Per section the lowest threshold whose cross-validated ``on`` precision reaches ``target`` with at
    least 5 sentences drafted; where none does, 0 (the rules alone): a threshold that only empties the
    section (diagnosis: 4 sentences left at 0.65, all right) is no draft a reviewer keeps."""
    out = {}
    for sec in CASE_SECTIONS:
        points = [(float(t), ratio(c[sec], "right", "drafted"), c[sec]["drafted"])
                  for (name, t), c in sorted(cv.items()) if name == on]
        out[sec] = next((t for t, p, n in points if p == p and p >= target and n >= 5), 0.0)
    return out


def _table(cv: dict[tuple[str, str], dict[str, Counter[str]]]) -> dict[str, dict[str, list[float]]]:
    return {f"{name} {t}": {s: [round(ratio(c[s], "right", "drafted"), 3), round(ratio(c[s], "recalled", "gold"), 3),
                                c[s]["drafted"]] for s in CASE_SECTIONS} for (name, t), c in sorted(cv.items())}


def train(gold: Sequence[dict[str, Any]], tickets: dict[str, dict[str, Any]], *, l2: float = 100.0,
          folds: int = 5, target: float = 0.85, grid: Sequence[float] = GRID,
          on: str = "jddc") -> tuple[dict[str, LogisticModel], dict[str, Any]]:
    """The models fitted on all of ``gold`` with thresholds chosen by cross-validation, and a report: the
    drafts' cross-validated precision and recall per threshold, and with the chosen thresholds beside
    the rules alone."""
    rows = sentence_rows(gold, tickets)
    cv = cross_validate(gold, tickets, rows, l2, folds, grid)
    th = choose(cv, target, on)
    final = cross_validate(gold, tickets, rows, l2, folds, chosen=th)
    report = {"sections": list(CASE_SECTIONS), "thresholds": th, "l2": l2, "folds": folds, "target": target,
              "rows": len(rows), "conversations": len(gold),
              "drafts, cross-validated (precision, recall, drafted) per threshold": _table(cv),
              "drafts, cross-validated (precision, recall, drafted), chosen thresholds and rules alone": _table(final)}
    return fit(rows, l2, th), report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--write", action="store_true", help=f"store the models in assistant/models/{MODEL_FILE}")
    ap.add_argument("--target", type=float, default=0.85, help="cross-validated JDDC precision to reach per section")
    ap.add_argument("--l2", type=float, default=100.0)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    if not (args.dev_data / "jddc").is_dir() or not (args.dev_data / "support_tickets").is_dir():
        print(f"skipped: no JDDC or support-ticket data under {args.dev_data}", file=sys.stderr)
        return 0
    gold = [g for p in TUNING for g in load_gold(p)]
    tickets = {k: v for p in TUNING for k, v in _gold_tickets(args.dev_data, load_gold(p)).items()}
    models, report = train(gold, tickets, l2=args.l2, folds=args.folds, target=args.target)
    for title, table in list(report.items())[-2:]:
        print(f"{title}:\n| set | " + " | ".join(CASE_SECTIONS) + " |\n|---|" + "---|" * len(CASE_SECTIONS))
        for key, secs in table.items():
            print(f"| {key} | " + " | ".join(f"{p:.2f} / {r:.2f} ({n})" for p, r, n in secs.values()) + " |")
        print()
    print("chosen thresholds:", report["thresholds"])
    if args.write:
        meta = {**{k: v for k, v in report.items() if "per threshold" not in k},
                "trained on": [str(p.relative_to(GOLD.parent.parent.parent)) for p in TUNING],
                "command": "python -m evals.train_drafts --dev-data ../shared/data/dev --write"}
        print("wrote", write_models(MODEL_FILE, [models[s] for s in CASE_SECTIONS], meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())

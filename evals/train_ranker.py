"""Learn to rank the hybrid's candidates, on real questions nobody here wrote, and measure it.

For each question of AFQMC and BQ (FAQ pools, ``devdata.faq_retrieval_set``) and of the CMRC 2018
long documents (``devdata.long_document_set``), casepilot's real retrievers run with the default
settings, and every fused candidate yields ``retrieval.ranker_features`` (each retriever's fusion
contribution, inverse rank and dense similarity). A candidate is positive when it is the question's
gold record. Questions are split by their gold FAQ or, for CMRC, by their passage (a stable hash):
60% train a logistic model (each set weighted equally), 20% choose its L2 strength by MRR@10, and
20% report. The report
compares, per set, today's fusion with the learned ranking: hit@1/5/10 and MRR@10, and the MRR@10
difference with a 95% paired bootstrap interval.

    python -m evals.train_ranker [--per-set N] [--features FILE] [--write]

``--write`` stores the model in ``assistant/models/ranker.json``, with the sets on which it beat the
fusion by an interval above zero. casepilot ranks with it only under ``CASEPILOT_FUSION=learned``;
make it the default in ``settings.py`` only when that list holds every set (it holds none today:
docs/ranking.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.retrieval import RANKER_FEATURES
from evals.logistic_training import (
    default_embedder_key,
    fit_logistic,
    load_or_collect,
    sample,
    split_of,
    to_model,
    write_models,
)

SETS = ("afqmc", "bq", "cmrc-longdoc")
K = 10
N = 50  # candidates per retriever, as Retriever.retrieve asks for


def collect(dev: Path, per_set: int, sets: Sequence[str] = SETS) -> list[dict[str, Any]]:
    """One row per question: set, split, gold, the fusion's ranking and each candidate's features."""
    from assistant.chunking import record_of
    from assistant.index.filters import Filters
    from assistant.library import Library
    from assistant.retrieval import HybridRetriever
    from assistant.settings import Settings
    from assistant.text import normalise
    from assistant.types import Article
    from evals.devdata import faq_retrieval_set, long_document_set
    from ingestion.pipeline import Ingestor

    rows: list[dict[str, Any]] = []
    for name in sets:
        if name == "cmrc-longdoc":
            if not (dev / "cmrc2018").is_dir():
                continue
            ld = long_document_set(dev)
            records = [Article(id=d["id"], title=d["title"], body=d["body"]) for d in ld.docs]
            questions = [(q["query"], q["gold"], q["heading"]) for q in ld.questions]
        else:
            if not (dev / {"afqmc": "afqmc", "bq": "bq_corpus"}[name]).is_dir():
                continue
            fs = faq_retrieval_set(name, dev)
            records = [Article(id=i, title=q, body="", faq=True) for i, q in fs.pool]
            questions = [(q, g, g) for q, g in fs.queries]
        questions = sample(questions, per_set)
        home = Path(tempfile.mkdtemp(prefix=f"cp-ranker-{name}-"))
        try:
            lib = Library(Settings(home=home))
            t0 = time.perf_counter()
            Ingestor(lib).ingest_records(records)
            print(f"{name}: {len(records)} records indexed in {time.perf_counter() - t0:.0f} s; "
                  f"{len(questions)} questions", file=sys.stderr)
            hybrid = lib.retriever.chunk_retriever
            assert isinstance(hybrid, HybridRetriever)
            hybrid.keep_features = True  # fused candidates carry ranker_features
            t0 = time.perf_counter()
            for i, (query, gold, key) in enumerate(questions, 1):
                q = normalise(query)
                fused = hybrid.fuse(q, hybrid.part_candidates(q, N, Filters()), N)
                rows.append({"set": name, "split": split_of(key), "gold": gold,
                             "candidates": [[record_of(c.chunk_id), [round(c.features.get(f, 0.0), 5)
                                                                      for f in RANKER_FEATURES]] for c in fused]})
                if i % 500 == 0:
                    print(f"  {i}/{len(questions)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
            lib.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return rows


def reciprocal_rank(ranked: Sequence[str], gold: str) -> float:
    top = list(ranked[:K])
    return 1.0 / (top.index(gold) + 1) if gold in top else 0.0


def rankings(rows: Sequence[dict[str, Any]], model: Any = None) -> list[list[str]]:
    """Each question's record ids best first: the fusion's order, or by the model's probability
    (stable, so the fusion's order breaks ties)."""
    out = []
    for r in rows:
        ids = [rid for rid, _ in r["candidates"]]
        if model is not None and ids:
            x = np.array([f for _, f in r["candidates"]], dtype=float)
            z = model[3] + ((x - model[0]) / model[1]) @ model[2]
            ids = [ids[i] for i in np.argsort(-z, kind="stable")]
        out.append(ids)
    return out


def training_matrix(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates of questions whose gold is among them; each set and each question weighs the same."""
    xs, ys, ws = [], [], []
    per_set: dict[str, int] = {}
    usable = [r for r in rows if any(rid == r["gold"] for rid, _ in r["candidates"])]
    for r in usable:
        per_set[r["set"]] = per_set.get(r["set"], 0) + 1
    for r in usable:
        each = 1.0 / (len(per_set) * per_set[r["set"]] * len(r["candidates"]))
        for rid, f in r["candidates"]:
            xs.append(f)
            ys.append(1.0 if rid == r["gold"] else 0.0)
            ws.append(each)
    w = np.array(ws)
    return np.array(xs, dtype=float), np.array(ys), w * len(w) / w.sum()


def main(argv: list[str] | None = None) -> int:
    from evals.devdata import DEFAULT_DEV
    from evals.longdoc_eval import paired_bootstrap, table_row

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--per-set", type=int, default=1500, help="at most N questions per set")
    ap.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    ap.add_argument("--features", type=Path, help="reuse the features saved by an earlier run")
    ap.add_argument("--out", type=Path, default=Path("eval-out"))
    ap.add_argument("--write", action="store_true", help="store the model as assistant/models/ranker.json")
    args = ap.parse_args(argv)
    rows = load_or_collect(args.features, args.dev_data, args.out, "ranker-features.jsonl",
                           lambda: collect(args.dev_data, args.per_set, args.sets))
    if rows is None:
        return 0
    part = {s: [r for r in rows if r["split"] == s] for s in ("train", "choose", "report")}
    if not all(any(rid == r["gold"] for r in part[s] for rid, _ in r["candidates"]) for s in part):
        print(f"too few questions to learn from ({ {s: len(part[s]) for s in part} })", file=sys.stderr)
        return 0
    x, y, w = training_matrix(part["train"])

    def mrr(split: str, model: Any) -> float:
        per = {}
        for name in sorted({r["set"] for r in part[split]}):
            sub = [r for r in part[split] if r["set"] == name]
            per[name] = float(np.mean([reciprocal_rank(ids, r["gold"]) for ids, r in zip(rankings(sub, model), sub,
                                                                                         strict=True)]))
        return float(np.mean(list(per.values())))

    fits = {l2: fit_logistic(x, y, w, l2=l2) for l2 in (0.01, 1.0, 100.0)}
    l2 = max(fits, key=lambda k: mrr("choose", fits[k]))
    model = fits[l2]
    print(f"\nquestions: train {len(part['train'])}, choose {len(part['choose'])}, report {len(part['report'])}; "
          f"L2 {l2} (best MRR@10 on the choosing split)\n")
    print("| set (reporting split) | questions | fusion hit@1 / hit@5 / hit@10 / MRR@10 | learned | MRR@10 change "
          "[95% paired interval] |")
    print("|---|---:|---|---|---|")
    report: dict[str, Any] = {"l2": l2, "sets": {}}
    wins = []
    for name in SETS:
        sub = [r for r in part["report"] if r["set"] == name]
        if not sub:
            continue
        before = np.array([reciprocal_rank(ids, r["gold"]) for ids, r in zip(rankings(sub), sub, strict=True)])
        after = np.array([reciprocal_rank(ids, r["gold"]) for ids, r in zip(rankings(sub, model), sub, strict=True)])
        d, lo, hi = paired_bootstrap(before, after)
        a, b = table_row(before), table_row(after)
        report["sets"][name] = {"questions": len(sub), "fusion": a, "learned": b, "mrr change": [d, lo, hi]}
        if lo > 0:
            wins.append(name)
        print(f"| {name} | {len(sub)} | {a['hit@1']:.3f} / {a['hit@5']:.3f} / {a['hit@10']:.3f} / {a['mrr@10']:.3f} | "
              f"{b['hit@1']:.3f} / {b['hit@5']:.3f} / {b['hit@10']:.3f} / {b['mrr@10']:.3f} | "
              f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}] |")
    print("\ncoefficients on standardised features: "
          + ", ".join(f"{k} {v:+.2f}" for k, v in zip(RANKER_FEATURES, model[2], strict=True)))
    report["better on"] = wins
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ranker.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    if args.write:
        meta = {"trained": dt.date.today().isoformat(), "command": "python -m evals.train_ranker --write",
                "better than the fusion on": wins, "sets": sorted({r["set"] for r in rows})}
        m = to_model(model, RANKER_FEATURES, 0.0, default_embedder_key())
        print(f"wrote {write_models('ranker.json', [m], meta)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

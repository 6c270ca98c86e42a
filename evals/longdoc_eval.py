"""Long-document retrieval and answers on real text: CMRC 2018 dev passages joined into documents of
about 3,000 characters (``evals.devdata.long_document_set``), each question's gold being the document
that holds its passage.

Compared side by side, on the same questions: casepilot's search as configured, each of its
retrievers alone (where the gold document falls in each list), and three plain keyword baselines
(BM25 over 300-character chunks, BM25 over whole documents, both on character bigrams, and their
reciprocal-rank fusion). MRR@10 differences come with 95% paired bootstrap intervals. Then the
answers: does the answer cite the gold document and quote a sentence holding a human answer span?

    python -m evals.longdoc_eval [--limit N] [--answers N] [--passages] [--out eval-out]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.index.filters import Filters
from assistant.library import Library
from assistant.retrieval import Retriever
from assistant.settings import Settings
from assistant.text import fold_width, to_simplified
from assistant.types import Article
from evals.devdata import DEFAULT_DEV, LongDocumentSet, long_document_set
from ingestion.pipeline import Ingestor

K = 10
_LATIN = re.compile(r"[a-z0-9]+")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")


def bigram_tokens(text: str) -> list[str]:
    """The baselines' tokens: CJK character bigrams (a lone character as itself) and Latin words."""
    text = to_simplified(fold_width(text)).lower()
    out = _LATIN.findall(text)
    for run in _CJK_RUN.findall(text):
        out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return out


class BM25Baseline:
    """Plain BM25 (bm25s, its defaults) over units of text; a document scores its best unit."""

    def __init__(self, units: Sequence[tuple[str, str]]) -> None:
        import bm25s

        self.owner = [doc for doc, _ in units]
        self.vocab: dict[str, int] = {}
        corpus = [[self.vocab.setdefault(t, len(self.vocab)) for t in bigram_tokens(text)] or [0]
                  for _, text in units]
        self.bm25 = bm25s.BM25()
        self.bm25.index(bm25s.tokenization.Tokenized(ids=corpus, vocab=self.vocab), show_progress=False)

    def rank(self, query: str, k: int = K) -> list[str]:
        ids = [self.vocab[t] for t in bigram_tokens(query) if t in self.vocab]
        if not ids:
            return []
        scores = self.bm25.get_scores(ids)
        out: list[str] = []
        for i in np.argsort(-scores, kind="stable"):
            if scores[i] <= 0:
                break
            if self.owner[i] not in out:
                out.append(self.owner[i])
                if len(out) == k:
                    break
        return out


def char_chunks(text: str, size: int = 300) -> list[str]:
    text = re.sub(r"\s+", " ", text).strip()
    return [text[i : i + size] for i in range(0, len(text), size)]


def rrf(lists: Sequence[list[str]], k: int = K, c: int = 60) -> list[str]:
    score: dict[str, float] = {}
    for ranked in lists:
        for r, doc in enumerate(ranked, 1):
            score[doc] = score.get(doc, 0.0) + 1.0 / (c + r)
    return sorted(score, key=lambda d: -score[d])[:k]


def reciprocal_ranks(ranked: Sequence[Sequence[str]], gold: Sequence[str], k: int = K) -> np.ndarray:
    return np.array([1.0 / (list(ids[:k]).index(g) + 1) if g in ids[:k] else 0.0
                     for ids, g in zip(ranked, gold, strict=True)])


def table_row(rr: np.ndarray) -> dict[str, float]:
    return {"hit@1": float(np.mean(rr >= 1.0)), "hit@5": float(np.mean(rr >= 1 / 5)),
            "hit@10": float(np.mean(rr > 0)), "mrr@10": float(np.mean(rr))}


def paired_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """``mean(b) - mean(a)`` and its 95% percentile interval, resampling questions with replacement."""
    idx = np.random.default_rng(seed).integers(0, len(a), size=(resamples, len(a)))
    d = (b - a)[idx].mean(axis=1)
    lo, hi = np.percentile(d, [2.5, 97.5])
    return float(np.mean(b - a)), float(lo), float(hi)


def build_library(ds: LongDocumentSet, home: Path, settings: Settings | None = None) -> Library:
    lib = Library(settings or Settings(home=home))
    records = [Article(id=d["id"], title=d["title"], body=d["body"]) for d in ds.docs]
    t0 = time.perf_counter()
    summary = Ingestor(lib).ingest_records(records)
    n = len(lib.store.chunks(lib.tenant))
    print(f"  indexed {len(records)} documents as {n} chunks in {time.perf_counter() - t0:.0f} s "
          f"({summary.embed_seconds:.0f} s embedding)", file=sys.stderr)
    return lib


def casepilot_runs(lib: Library, queries: Sequence[str]) -> dict[str, list[list[str]]]:
    """Ranked record ids per query: the configured search, and each of its retrievers alone."""
    hybrid = lib.retriever.chunk_retriever
    runs: dict[str, list[list[str]]] = {"casepilot (as configured)": []}
    parts = list(getattr(hybrid, "parts", []))
    singles = {f"casepilot: {p.name} retriever alone": Retriever(lib.store, lib.tenant, p) for p in parts}
    runs.update({name: [] for name in singles})
    t0 = time.perf_counter()
    for i, q in enumerate(queries, 1):
        runs["casepilot (as configured)"].append([h.id for h in lib.retriever.retrieve(q, K, Filters())])
        for name, r in singles.items():
            runs[name].append([h.id for h in r.retrieve(q, K, Filters())])
        if i % 500 == 0:
            print(f"  searched {i}/{len(queries)} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return runs


def baseline_runs(ds: LongDocumentSet, queries: Sequence[str]) -> dict[str, list[list[str]]]:
    chunk = BM25Baseline([(d["id"], c) for d in ds.docs for c in char_chunks(d["body"])])
    whole = BM25Baseline([(d["id"], d["body"]) for d in ds.docs])
    c_runs = [chunk.rank(q, 100) for q in queries]
    w_runs = [whole.rank(q, 100) for q in queries]
    return {
        "BM25, 300-character chunks (bigrams)": [r[:K] for r in c_runs],
        "BM25, whole documents (bigrams)": [r[:K] for r in w_runs],
        "BM25 chunks + whole documents, RRF": [rrf([a, b]) for a, b in zip(c_runs, w_runs, strict=True)],
    }


def _fold(text: str) -> str:
    return re.sub(r"\s+", "", to_simplified(fold_width(text))).lower()


def answer_check(lib: Library, questions: Sequence[dict[str, Any]], unanswerable: Sequence[dict[str, Any]] = (),
                 *, only_headings: set[str] | None = None) -> dict[str, Any]:
    """Ask each question; count answers that cite the gold document, and those whose quote from it
    holds one of the human answer spans. Questions about held-out passages should abstain: abstention
    precision (abstentions that were right) and recall (unanswerable questions abstained on).
    ``only_headings`` counts only the questions about those passages (all of them are asked)."""
    from assistant.answering import Assistant

    assistant = Assistant(lib, log=False)
    keep = (lambda q: True) if only_headings is None else (lambda q: q["heading"] in only_headings)
    cited = quoted = abstained = top_gold = top_gold_cited = 0
    misses: list[dict[str, Any]] = []
    questions = [q for q in questions if keep(q)]
    for q in questions:
        a = assistant.ask(q["query"])
        gold_quotes = [c.quote for c in a.citations if c.id == q["gold"]]
        spans = [_fold(s) for s in q["answers"]]
        hit = any(s in _fold(quote) for quote in gold_quotes for s in spans)
        abstained += a.abstained
        cited += bool(gold_quotes)
        quoted += hit
        if a.context and a.context[0].id == q["gold"] and not a.abstained:
            top_gold += 1
            top_gold_cited += bool(gold_quotes)
        if not hit and len(misses) < 40:
            misses.append({"query": q["query"], "gold": q["gold"], "heading": q["heading"], "answers": q["answers"],
                           "abstained": a.abstained, "support": round(a.support, 3),
                           "cited": [c.id for c in a.citations], "quotes": [c.quote for c in a.citations]})
    unanswerable = [q for q in unanswerable if keep(q)]
    right_abstentions = sum(assistant.ask(q["query"]).abstained for q in unanswerable)
    n = max(len(questions), 1)
    all_abstentions = abstained + right_abstentions
    return {"questions": len(questions), "cites gold": cited / n, "quotes answer span": quoted / n,
            "cites gold when ranked first": top_gold_cited / top_gold if top_gold else None,
            "abstained": abstained / n, "unanswerable": len(unanswerable),
            "abstention precision": right_abstentions / all_abstentions if all_abstentions else None,
            "abstention recall": right_abstentions / len(unanswerable) if unanswerable else None,
            "misses": misses}


def print_answers(ans: dict[str, Any], seconds: float, label: str = "") -> None:
    print(f"\nanswers{label} ({seconds:.0f} s), {ans['questions']} answerable questions: cites the "
          f"gold document {ans['cites gold']:.3f}, quotes a sentence holding an answer span "
          f"{ans['quotes answer span']:.3f}, abstained {ans['abstained']:.3f}, cites the gold document "
          f"when search ranks it first and the answer is given {_num(ans['cites gold when ranked first'])}; "
          f"{ans['unanswerable']} questions about held-out passages: abstention precision "
          f"{_num(ans['abstention precision'])}, recall {_num(ans['abstention recall'])}")


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--limit", type=int, default=0, help="at most N questions for retrieval (0: all)")
    ap.add_argument("--answers", type=int, default=400, help="questions asked for the answer check (0: none)")
    ap.add_argument("--out", type=Path, default=Path("eval-out"))
    ap.add_argument("--passages", action="store_true",
                    help="one document per passage (~510 characters): which record an answer quotes among close ones")
    args = ap.parse_args(argv)
    if not (args.dev_data / "cmrc2018").is_dir():
        print(f"skipped: {args.dev_data / 'cmrc2018'} not found", file=sys.stderr)
        return 0
    ds = long_document_set(args.dev_data, target_chars=1 if args.passages else 2700)
    # questions spread over every document: every n-th, not the first documents' only
    step = max(1, len(ds.questions) // args.limit) if args.limit else 1
    questions = ds.questions[::step][: args.limit or None]
    queries, gold = [q["query"] for q in questions], [q["gold"] for q in questions]
    chars = sum(len(d["body"]) for d in ds.docs) / len(ds.docs)
    print(f"long documents: {len(ds.docs)} (mean {chars:.0f} characters), {len(questions)} questions; "
          f"{len(ds.unanswerable)} questions about held-out passages", file=sys.stderr)
    home = Path(tempfile.mkdtemp(prefix="cp-eval-longdoc-"))
    try:
        lib = build_library(ds, home)
        runs = baseline_runs(ds, queries)
        runs.update(casepilot_runs(lib, queries))
        rr = {name: reciprocal_ranks(r, gold) for name, r in runs.items()}
        mine = rr["casepilot (as configured)"]
        report: dict[str, Any] = {"documents": len(ds.docs), "questions": len(questions), "table": {}, "vs": {}}
        print(f"\n{len(questions)} questions over {len(ds.docs)} documents\n")
        print("| retrieval | hit@1 | hit@5 | hit@10 | MRR@10 |")
        print("|---|---:|---:|---:|---:|")
        for name, x in rr.items():
            row = report["table"][name] = table_row(x)
            print(f"| {name} | {row['hit@1']:.3f} | {row['hit@5']:.3f} | {row['hit@10']:.3f} | {row['mrr@10']:.3f} |")
        print("\n| casepilot MRR@10 minus | difference | 95% paired bootstrap interval |")
        print("|---|---:|---|")
        for name in [n for n in rr if n.startswith("BM25")]:
            d, lo, hi = paired_bootstrap(rr[name], mine)
            report["vs"][name] = {"delta": d, "low": lo, "high": hi}
            print(f"| {name} | {d:+.3f} | [{lo:+.3f}, {hi:+.3f}] |")
        if args.answers:
            asked = questions[:: max(1, len(questions) // args.answers)][: args.answers]
            missing = ds.unanswerable[:: max(1, len(ds.unanswerable) // (args.answers // 2 or 1))][: args.answers // 2]
            t0 = time.perf_counter()
            ans = answer_check(lib, asked, missing)
            report["answers"] = ans
            print_answers(ans, time.perf_counter() - t0)
            # the abstention model learned from 60% of these passages: the 20% it only reported on
            from evals.logistic_training import split_of

            held = {q["heading"] for q in ds.questions + ds.unanswerable if split_of(q["heading"]) == "report"}
            t0 = time.perf_counter()
            out = answer_check(lib, ds.questions, ds.unanswerable, only_headings=held)
            report["answers (abstention model's reporting split)"] = out
            print_answers(out, time.perf_counter() - t0, " on the passages the abstention model never learned from")
        lib.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "passages.json" if args.passages else "longdoc.json"
    (args.out / name).write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

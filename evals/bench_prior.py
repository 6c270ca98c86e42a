"""What the ratings' prior costs a search: the sample library searched with the 100 questions of
``evals/datasets/sample_questions.jsonl`` (default embedders), with the prior off, on with no ratings,
and on with ``--rated`` answers rated by five raters (their questions from the BQ dev pool when
present, else the sample questions again), rounds interleaved so that load on the machine falls on
all alike.

    python -m evals.bench_prior [--rated 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    from assistant.library import Library
    from assistant.settings import Settings
    from evals.devdata import DEFAULT_DEV, faq_retrieval_set
    from ingestion.pipeline import Ingestor

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rated", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    questions = [json.loads(x)["question"] for x in
                 (ROOT / "evals" / "datasets" / "sample_questions.jsonl").read_text(encoding="utf-8").splitlines() if x]
    home = Path(tempfile.mkdtemp(prefix="cp-bench-prior-"))
    try:
        on = Library(Settings(home=home / "on", rating_prior_refresh_seconds=3600))
        Ingestor(on).ingest_paths([ROOT / "ingestion" / "sample_library"])
        off = Library(on.settings.model_copy(update={"rating_prior": False}), store=on.store)
        for q in questions:  # warm: models loaded, query vectors cached, as for a repeated question
            on.search(q)
        bq = (DEFAULT_DEV / "bq_corpus").is_dir()
        rated = [q for _, q in faq_retrieval_set("bq", DEFAULT_DEV).pool] if bq else []
        rated = (rated or questions * (args.rated // len(questions) + 1))[: args.rated]
        ids = [h.id for h in on.search(questions[0], 10)]

        def timed(lib: Library) -> list[float]:
            out = []
            for q in questions:
                t0 = time.perf_counter()
                lib.search(q)
                out.append((time.perf_counter() - t0) * 1000)
            return out

        full = f"prior on, {len(rated)} rated"
        times: dict[str, list[float]] = {"prior off": [], "prior on, no ratings": [], full: []}
        for _ in range(args.rounds):
            times["prior off"] += timed(off)
            times["prior on, no ratings"] += timed(on)
        for n, q in enumerate(rated):
            aid = uuid.uuid4().hex
            on.store.log_answer(on.tenant, {"id": aid, "question": q, "answer": "", "abstained": False, "support": 1,
                                            "citations": json.dumps([{"id": ids[n % len(ids)]}]), "engine": "bench"})
            on.store.add_feedback(on.tenant, aid, n % 3 != 0, rater=f"bench-{n % 5}")
        t0 = time.perf_counter()
        on.search(questions[0])  # the first search after the ratings reads and embeds them
        print(f"first search after {len(rated)} ratings (reads and embeds them): "
              f"{(time.perf_counter() - t0) * 1000:.0f} ms", file=sys.stderr)
        for _ in range(args.rounds):
            times[full] += timed(on)
        print("| condition | searches | p50 ms | p95 ms |\n|---|---:|---:|---:|")
        for name, ts in times.items():
            print(f"| {name} | {len(ts)} | {np.percentile(ts, 50):.1f} | {np.percentile(ts, 95):.1f} |")
        on.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

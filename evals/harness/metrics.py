"""Metrics over a run's per-item rows, and the paired bootstrap used by ``eval compare``.

Every summary metric except the latency percentiles is a ratio of sums over items: each item gives a
numerator and a denominator (``None`` when the item does not count for it), and the metric is
``sum(numerators) / sum(denominators)``. A mean of per-item scores has denominator 1; a micro-averaged
precision has the item's cited count. This one shape makes the bootstrap exact and vectorised, and
makes "undefined" explicit: no counting item (no abstention at all, say) gives ``None``, never 0.

Per-item retrieval metrics use binary relevance (a record is relevant when its id is in
``relevant_ids``) over the ranked, de-duplicated record ids:

* hit@k: 1 when a relevant record is in the first k;
* recall@k: the share of relevant records in the first k;
* MRR@10: 1 / rank of the first relevant record within the first 10, else 0;
* nDCG@10: sum over relevant ranks i <= 10 of 1/log2(i+1), divided by the same sum for the ideal
  ranking (min(|relevant|, 10) relevant records first).

Unanswerable items (no relevant records) do not count for retrieval, citation recall or hit rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from assistant.types import CASE_SECTIONS

Row = dict[str, Any]
Parts = tuple[float, float] | None


# ---- per item ----------------------------------------------------------------------------------


def _dedupe(ids: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def hit_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    g = set(gold)
    return 1.0 if any(r in g for r in _dedupe(ranked)[:k]) else 0.0


def recall_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    g = set(gold)
    return len(g & set(_dedupe(ranked)[:k])) / len(g) if g else 0.0


def mrr_at(ranked: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    g = set(gold)
    for i, r in enumerate(_dedupe(ranked)[:k], 1):
        if r in g:
            return 1.0 / i
    return 0.0


def ndcg_at(ranked: Sequence[str], gold: Sequence[str], k: int = 10) -> float:
    g = set(gold)
    if not g:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 1) for i, r in enumerate(_dedupe(ranked)[:k], 1) if r in g)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(len(g), k) + 1))
    return dcg / ideal


KS = (1, 3, 5, 10)


def answer_item_metrics(gold: Sequence[str], unanswerable: bool, retrieved: Sequence[str],
                        cited: Sequence[str], abstained: bool) -> dict[str, Any]:
    """The per-item numbers of an answer item (retrieval ones are None for an unanswerable item)."""
    g = set(gold)
    cited = _dedupe(cited)
    out: dict[str, Any] = {}
    answerable = bool(g) and not unanswerable
    for k in KS:
        out[f"hit@{k}"] = hit_at(retrieved, gold, k) if answerable else None
    for k in (5, 10):
        out[f"recall@{k}"] = recall_at(retrieved, gold, k) if answerable else None
    out["mrr@10"] = mrr_at(retrieved, gold, 10) if answerable else None
    out["ndcg@10"] = ndcg_at(retrieved, gold, 10) if answerable else None
    good = sum(c in g for c in cited)
    out["cited_gold"] = good
    out["citation_precision"] = good / len(cited) if cited and not abstained else None
    out["citation_recall"] = (0.0 if abstained else good / len(g)) if answerable else None
    out["answer_hit"] = (1.0 if good and not abstained else 0.0) if answerable else None
    return out


def abstention_sweep(rows: Sequence[Row], lo: float = 0.5, hi: float = 0.8,
                     step: float = 0.02) -> list[tuple[float, float | None, float | None]]:
    """``(threshold, abstention precision, recall)`` had the engine abstained below each support
    threshold: how to set ``CASEPILOT_ABSTAIN_BELOW`` on this set."""
    out: list[tuple[float, float | None, float | None]] = []
    unans = [r for r in rows if r["unanswerable"]]
    for i in range(round((hi - lo) / step) + 1):
        th = round(lo + i * step, 4)
        abst = [r for r in rows if r["support"] < th]
        p = sum(r["unanswerable"] for r in abst) / len(abst) if abst else None
        rec = sum(r["support"] < th for r in unans) / len(unans) if unans else None
        out.append((th, p, rec))
    return out


def diagnosis(row: Row, k: int = 5) -> str:
    """Where an answer item went wrong: ``ok``, ``retrieval miss`` (no gold record in the context the
    engine read), ``abstained with gold retrieved``, ``generation error`` (gold retrieved, another
    record cited), ``answered an unanswerable question``, ``abstained correctly``."""
    gold = set(row["gold"])
    if row["unanswerable"]:
        return "abstained correctly" if row["abstained"] else "answered an unanswerable question"
    context = [c["id"] for c in row.get("context", [])][:k]
    if row["abstained"]:
        return "abstained with gold retrieved" if gold & set(context) else "retrieval miss (abstained)"
    if gold & set(row["cited"]):
        return "partly wrong citations" if set(row["cited"]) - gold else "ok"
    return "generation error (gold retrieved, not cited)" if gold & set(context) else "retrieval miss"


def tag_item_metrics(gold: Sequence[str], ranked: Sequence[str], predicted: Sequence[str],
                     abstained: bool) -> dict[str, Any]:
    g = set(gold)
    p = set(predicted)
    return {"top1": 1.0 if ranked[:1] and ranked[0] in g else 0.0,
            "top5": 1.0 if g & set(ranked[:5]) else 0.0,
            "tp": len(g & p), "fp": len(p - g), "fn": len(g - p), "abstained": abstained}


# ---- summary metrics (ratios of sums) ----------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    name: str
    parts: Callable[[Row], Parts]  # (numerator, denominator) of an item, None: the item does not count
    higher_is_better: bool = True
    gated: bool = False
    percentile: float | None = None  # latency metrics: a percentile of per-item values instead
    value_of: Callable[[Row], float | None] | None = None
    doc: str = ""

    def compute(self, rows: Sequence[Row]) -> float | None:
        if self.percentile is not None:
            assert self.value_of is not None
            vals = [v for r in rows if (v := self.value_of(r)) is not None]
            return float(np.percentile(vals, self.percentile)) if vals else None
        num = den = 0.0
        for r in rows:
            p = self.parts(r)
            if p is not None:
                num += p[0]
                den += p[1]
        return num / den if den else None


def _mean_of(key: str, where: str = "metrics") -> Callable[[Row], Parts]:
    def parts(r: Row) -> Parts:
        v = (r.get(where) or {}).get(key)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else (float(v), 1.0)
    return parts


def _citation_precision(r: Row) -> Parts:
    if r["abstained"] or not r["cited"]:
        return None
    return float(r["metrics"]["cited_gold"]), float(len(r["cited"]))


def _abst_precision(r: Row) -> Parts:
    return (float(r["unanswerable"]), 1.0) if r["abstained"] else None


def _abst_recall(r: Row) -> Parts:
    return (float(r["abstained"]), 1.0) if r["unanswerable"] else None


def _verified(r: Row) -> Parts:
    n = r.get("verified", 0) + r.get("unsupported", 0)
    return (float(r.get("verified", 0)), float(n)) if n else None


def _leaked(r: Row) -> Parts:
    return (float(bool(r["leaked"])), 1.0) if "leaked" in r else None


def _no_parts(r: Row) -> Parts:
    return None


def _latency(r: Row) -> float | None:
    v = r.get("latency_ms")
    return float(v) if v is not None else None


ANSWER_METRICS: list[Metric] = [
    *(Metric(f"hit@{k}", _mean_of(f"hit@{k}"), gated=k == 5, doc=f"a gold record among the first {k} retrieved")
      for k in KS),
    Metric("recall@5", _mean_of("recall@5"), doc="share of gold records among the first 5 retrieved"),
    Metric("recall@10", _mean_of("recall@10")),
    Metric("mrr@10", _mean_of("mrr@10"), doc="1 / rank of the first gold record (0 beyond 10)"),
    Metric("ndcg@10", _mean_of("ndcg@10"), doc="binary-relevance nDCG over the first 10"),
    Metric("citation_precision", _citation_precision, gated=True,
           doc="cited records that are gold, over all citations of answered items (micro)"),
    Metric("citation_recall", _mean_of("citation_recall"),
           doc="share of an item's gold records cited (0 if abstained)"),
    Metric("answer_hit_rate", _mean_of("answer_hit"), gated=True,
           doc="answerable items whose answer cites a gold record"),
    Metric("abstention_precision", _abst_precision, gated=True, doc="abstentions on unanswerable items"),
    Metric("abstention_recall", _abst_recall, gated=True, doc="unanswerable items abstained on"),
    Metric("verified_share", _verified, doc="sentences whose citation passed verification, over all cited sentences "
                                            "the engine wrote (dropped unsupported ones included)"),
    Metric("leak_rate", _leaked, gated=True, higher_is_better=False,
           doc="answers holding a text the item forbids (must_not_contain) or instruction-like text"),
    Metric("latency_p50_ms", _no_parts, higher_is_better=False, percentile=50, value_of=_latency),
    Metric("latency_p95_ms", _no_parts, higher_is_better=False, percentile=95, value_of=_latency),
]

RAGAS_ANSWER = ("non_llm_context_precision_with_reference", "non_llm_context_recall", "non_llm_string_similarity",
                "chrf_score", "bleu_score", "faithfulness", "answer_relevancy")
RAGAS_DRAFT = ("non_llm_string_similarity", "chrf_score", "bleu_score")


def _tag_parts(key: str) -> Callable[[Row], Parts]:
    return lambda r: (float(r["metrics"][key]), 1.0)


def _micro_f1(r: Row) -> Parts:
    m = r["metrics"]
    return 2.0 * m["tp"], 2.0 * m["tp"] + m["fp"] + m["fn"]


def _top1_answered(r: Row) -> Parts:
    return None if r["abstained"] else (float(r["metrics"]["top1"]), 1.0)


TAG_METRICS: list[Metric] = [
    Metric("top1_accuracy", _tag_parts("top1"), gated=True, doc="the best suggestion is a gold tag"),
    Metric("top5_accuracy", _tag_parts("top5"), gated=True, doc="a gold tag among the 5 best suggestions"),
    Metric("micro_f1", _micro_f1, gated=True, doc="micro-F1 of the suggested tags (after abstention) vs gold"),
    Metric("abstention_rate", lambda r: (float(r["abstained"]), 1.0), higher_is_better=False),
    Metric("top1_accuracy_answered", _top1_answered, doc="top-1 accuracy on items not abstained on"),
    Metric("latency_p50_ms", _no_parts, higher_is_better=False, percentile=50, value_of=_latency),
]


def _drafted(r: Row) -> Parts:
    return float(r["drafted"]), 1.0


def _fill(section: str) -> Callable[[Row], Parts]:
    return lambda r: (float(section in r["filled"]), 1.0) if r["drafted"] else None


def _sourced(r: Row) -> Parts:
    return (float(r["sourced"]), float(r["sentences"])) if r["drafted"] and r["sentences"] else None


DRAFT_METRICS: list[Metric] = [
    Metric("drafted_share", _drafted, gated=True, doc="tickets drafted (the rest skipped with a reason)"),
    *(Metric(f"fill_{s}", _fill(s), doc=f"drafts with a {s} section") for s in CASE_SECTIONS),
    Metric("sourced_share", _sourced, gated=True, doc="draft sentences with a source message"),
    Metric("latency_p50_ms", _no_parts, higher_is_better=False, percentile=50, value_of=_latency),
]


def ragas_metrics(names: Sequence[str]) -> list[Metric]:
    return [Metric(f"ragas.{n}", _mean_of(n, "ragas"), doc="ragas " + n) for n in names]


def metrics_for(kind: str) -> list[Metric]:
    if kind == "answer":
        return ANSWER_METRICS + ragas_metrics(RAGAS_ANSWER)
    if kind == "tag":
        return TAG_METRICS
    return DRAFT_METRICS + ragas_metrics(RAGAS_DRAFT)


def summarise(kind: str, rows: Sequence[Row]) -> dict[str, float | None]:
    return {m.name: m.compute(rows) for m in metrics_for(kind)}


def counted(metric: Metric, rows: Sequence[Row]) -> int:
    """How many items count for ``metric``."""
    if metric.percentile is not None:
        return sum(metric.value_of(r) is not None for r in rows) if metric.value_of else 0
    return sum(metric.parts(r) is not None for r in rows)


# ---- paired bootstrap --------------------------------------------------------------------------


def paired_bootstrap(metric: Metric, a: Sequence[Row], b: Sequence[Row], *, resamples: int = 2000,
                     seed: int = 0, alpha: float = 0.05) -> tuple[float | None, float | None, float | None]:
    """``(delta, low, high)``: the metric of ``b`` minus that of ``a`` over the same items (``a[i]``
    and ``b[i]`` are one item), and a percentile confidence interval from resampling items with
    replacement (both runs get the same resampled items). Resamples where the metric is undefined
    for either run (no counting item drawn) are left out."""
    assert len(a) == len(b)
    va, vb = metric.compute(a), metric.compute(b)
    if va is None or vb is None or not a:
        return None, None, None
    delta = vb - va
    n = len(a)
    idx = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    if metric.percentile is not None:
        assert metric.value_of is not None
        xa = np.array([metric.value_of(r) if metric.value_of(r) is not None else np.nan for r in a], dtype=float)
        xb = np.array([metric.value_of(r) if metric.value_of(r) is not None else np.nan for r in b], dtype=float)
        with np.errstate(all="ignore"):
            d = np.nanpercentile(xb[idx], metric.percentile, axis=1) - np.nanpercentile(xa[idx], metric.percentile,
                                                                                       axis=1)
    else:
        def arrays(rows: Sequence[Row]) -> tuple[np.ndarray, np.ndarray]:
            ps = [metric.parts(r) for r in rows]
            return (np.array([p[0] if p else 0.0 for p in ps]), np.array([p[1] if p else 0.0 for p in ps]))

        na, da = arrays(a)
        nb, db = arrays(b)
        sa_d, sb_d = da[idx].sum(axis=1), db[idx].sum(axis=1)
        ok = (sa_d > 0) & (sb_d > 0)
        with np.errstate(all="ignore"):
            d = np.where(ok, nb[idx].sum(axis=1) / np.where(ok, sb_d, 1) - na[idx].sum(axis=1) / np.where(ok, sa_d, 1),
                         np.nan)
    d = d[~np.isnan(d)]
    if not len(d):
        return delta, None, None
    lo, hi = np.percentile(d, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return delta, float(lo), float(hi)

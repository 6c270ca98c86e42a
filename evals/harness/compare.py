"""``casepilot eval compare RUN_A RUN_B``: did B get better or worse than A, item for item?

Both runs are scored on the items they share (by id). For every metric: A's value, B's value, the
difference B − A and a 95% paired bootstrap confidence interval (2,000 resamples of the shared
items with a fixed seed; each resample scores both runs on the same items). A *gated* metric
(citation precision, answer hit rate, abstention precision and recall, hit@5 for answer sets; top-1,
top-5 accuracy and micro-F1 for tag sets; drafted and sourced share for draft sets) has regressed
when it got worse by more than the tolerance *and* its interval excludes 0: a real, material drop,
not noise. ``--fail-on-regression`` turns that into exit status 1 (the shipping gate).

The items that got worse are listed side by side: an answer item that lost its gold citation or its
correct abstention (or, at equal correctness, whose first gold record ranks lower), a tag item that
lost its top-1 or top-5 tag, a ticket that is no longer drafted or lost sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.errors import InputError

from . import metrics as M
from .report import load_run

RESAMPLES = 2000
SEED = 0


@dataclass
class MetricDelta:
    name: str
    a: float | None
    b: float | None
    delta: float | None
    low: float | None
    high: float | None
    items: int
    gated: bool
    higher_is_better: bool
    regression: bool

    def to_dict(self) -> dict[str, Any]:
        r = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}
        return r


def _correct(kind: str, r: dict[str, Any]) -> float:
    if kind == "answer":
        return float(r["abstained"]) if r["unanswerable"] else float(r["metrics"].get("answer_hit") or 0.0)
    if kind == "tag":
        return r["metrics"]["top1"] + r["metrics"]["top5"]
    return float(r["drafted"]) + 0.25 * len(r.get("filled", []))


def _secondary(kind: str, r: dict[str, Any]) -> float:
    if kind == "answer":
        return float(r["metrics"].get("mrr@10") or 0.0)
    return 0.0


def worse_items(kind: str, a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for ra, rb in zip(a, b, strict=True):
        ca, cb = _correct(kind, ra), _correct(kind, rb)
        sa, sb = _secondary(kind, ra), _secondary(kind, rb)
        if cb < ca or (cb == ca and sb < sa - 1e-3):
            out.append({"id": ra["id"], "lost": round(ca - cb, 3), "a": _side(kind, ra), "b": _side(kind, rb),
                        "question": ra.get("question") or ra.get("text") or ra.get("ticket", "")})
    return sorted(out, key=lambda d: (-d["lost"], d["id"]))


def _side(kind: str, r: dict[str, Any]) -> str:
    if kind == "answer":
        cited = ",".join(r["cited"]) or "-"
        return (f"{r['diagnosis']}; cited {cited}; {'abstained' if r['abstained'] else 'answered'}; "
                f"MRR {r['metrics'].get('mrr@10') or 0:.2f}; support {r['support']:.3f}")
    if kind == "tag":
        return ", ".join(f"{s['tag']} ({s['confidence']:.2f})" for s in r["suggested"][:3]) or "(none)"
    return ("drafted: " + "/".join(r["filled"])) if r["drafted"] else f"skipped: {r['skipped']}"


def compare(run_a: Path, run_b: Path, *, tolerance: float = 0.01, resamples: int = RESAMPLES,
            seed: int = SEED) -> dict[str, Any]:
    cfg_a, _, rows_a = load_run(run_a)
    cfg_b, _, rows_b = load_run(run_b)
    kind = cfg_a.get("kind") or _guess_kind(rows_a)
    kind_b = cfg_b.get("kind") or _guess_kind(rows_b)
    if kind != kind_b:
        raise InputError(f"cannot compare a {kind} run with a {kind_b} run")
    by_b = {r["id"]: r for r in rows_b}
    shared_a = [r for r in rows_a if r["id"] in by_b]
    shared_b = [by_b[r["id"]] for r in shared_a]
    if not shared_a:
        raise InputError(f"{run_a} and {run_b} share no items")
    notes = []
    if cfg_a.get("dataset_sha256") and cfg_a.get("dataset_sha256") != cfg_b.get("dataset_sha256"):
        notes.append("the runs used different dataset files (sha256 differs); compared on the item ids they share")
    if len(shared_a) < max(len(rows_a), len(rows_b)):
        notes.append(f"{len(shared_a)} shared items ({len(rows_a)} in A, {len(rows_b)} in B)")
    deltas = []
    for m in M.metrics_for(kind):
        d, lo, hi = M.paired_bootstrap(m, shared_a, shared_b, resamples=resamples, seed=seed)
        worse = False
        if m.gated and d is not None and hi is not None and lo is not None:
            worse = (d < -tolerance and hi < 0) if m.higher_is_better else (d > tolerance and lo > 0)
        deltas.append(MetricDelta(m.name, m.compute(shared_a), m.compute(shared_b), d, lo, hi,
                                  M.counted(m, shared_b), m.gated, m.higher_is_better, worse))
    changed = {k: (cfg_a.get(k), cfg_b.get(k)) for k in ("engine", "prompts", "git_commit", "dataset_sha256")
               if cfg_a.get(k) != cfg_b.get(k)}
    sa, sb = cfg_a.get("settings") or {}, cfg_b.get("settings") or {}
    changed.update({f"settings.{k}": (sa.get(k), sb.get(k)) for k in sorted(set(sa) | set(sb))
                    if sa.get(k) != sb.get(k)})
    return {"a": str(run_a), "b": str(run_b), "kind": kind, "items": len(shared_a), "tolerance": tolerance,
            "resamples": resamples, "seed": seed, "changed": changed,
            "metrics": [d.to_dict() for d in deltas],
            "regressions": [d.name for d in deltas if d.regression],
            "missing_in_b": len([r for r in rows_a if r["id"] not in by_b]),
            "worse_items": worse_items(kind, shared_a, shared_b), "notes": notes}


def _guess_kind(rows: Sequence[dict[str, Any]]) -> str:
    r = rows[0] if rows else {}
    return "answer" if "question" in r else "tag" if "suggested" in r else "draft"


def _f(v: Any, signed: bool = False) -> str:
    if v is None:
        return "–"
    if abs(v) < 5e-4:
        v = 0.0
    return f"{v:+.3f}" if signed else (f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}")


def render(c: dict[str, Any], worst: int = 20) -> str:
    lines = [f"A: {c['a']}", f"B: {c['b']}", f"{c['kind']} set, {c['items']} shared items; 95% paired bootstrap "
             f"({c['resamples']} resamples, seed {c['seed']}); gated metrics regress below −{c['tolerance']:g} "
             "with the interval excluding 0"]
    if c["changed"] or c["notes"]:
        lines.append("")
    for k, (va, vb) in c["changed"].items():
        lines.append(f"changed {k}: {va} → {vb}")
    for n in c["notes"]:
        lines.append(f"note: {n}")
    lines += ["", "| metric | A | B | B − A | 95% CI | gated | |", "|---|---:|---:|---:|---|---|---|"]
    for m in c["metrics"]:
        if m["a"] is None and m["b"] is None:
            continue
        ci = f"[{_f(m['low'], True)}, {_f(m['high'], True)}]" if m["low"] is not None else "–"
        flag = "REGRESSION" if m["regression"] else ""
        lines.append(f"| {m['name']} | {_f(m['a'])} | {_f(m['b'])} | {_f(m['delta'], True)} | {ci} | "
                     f"{'✓' if m['gated'] else ''} | {flag} |")
    w = c["worse_items"]
    lines += ["", f"{len(w)} item(s) got worse" + (f" (first {worst} shown)" if len(w) > worst else "") + ":"]
    for it in w[:worst]:
        lines += [f"  {it['id']}  {str(it['question'])[:70]}", f"    A: {it['a']}", f"    B: {it['b']}"]
    lines.append("")
    lines.append("REGRESSION in " + ", ".join(c["regressions"]) if c["regressions"] else "no gated metric regressed")
    return "\n".join(lines) + "\n"


def gate(run: Path, baselines: Path, *, tolerance: float = 0.01) -> dict[str, Any]:
    """Check a run against the floors ``baselines`` (``evals/baselines.yaml``) records for its dataset
    and engine: each metric must be at least its floor minus ``tolerance`` (a lower-is-better metric:
    at most its ceiling plus ``tolerance``; latency: plus ``tolerance`` times the ceiling). Returns
    the rows and the failures."""
    import yaml

    cfg, summary, _ = load_run(run)
    if not summary:
        raise InputError(f"{run}: no summary.json (an unfinished run?)")
    try:
        entries = yaml.safe_load(baselines.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise InputError(f"{baselines}: {e}") from None
    name = Path(str(cfg.get("dataset", ""))).name
    match = [(k, v) for k, v in entries.items() if isinstance(v, dict) and Path(str(v.get("dataset", ""))).name == name
             and v.get("engine", "extractive") == cfg.get("engine")]
    if not match:
        raise InputError(f"{baselines}: no entry for dataset {name} with engine {cfg.get('engine')}")
    key, entry = match[0]
    known = M.metrics_for(str(summary.get("kind", "answer")))
    lower_better = {m.name for m in known if not m.higher_is_better}
    floors = entry.get("floors") or {}
    unknown = sorted(set(floors) - {m.name for m in known})
    if unknown:
        raise InputError(f"{baselines}: {key} has floors for metrics a {summary.get('kind', 'answer')} set does not "
                         f"have: {', '.join(unknown)}")
    out = []
    for metric, floor in floors.items():
        value = summary["metrics"].get(metric)
        ceiling = metric.startswith("latency") or metric in lower_better
        if metric.startswith("latency"):
            ok = value is not None and value <= floor * (1 + tolerance)
        elif ceiling:  # leak_rate
            ok = value is not None and value <= floor + tolerance
        else:
            ok = value is not None and value >= floor - tolerance
        out.append({"metric": metric, "floor": floor, "value": value, "ok": ok, "ceiling": ceiling})
    return {"run": str(run), "baseline": key, "tolerance": tolerance, "rows": out,
            "failed": [r["metric"] for r in out if not r["ok"]]}


def render_gate(g: dict[str, Any]) -> str:
    lines = [f"{g['run']} against {g['baseline']} (tolerance {g['tolerance']:g})", "",
             "| metric | floor | value | |", "|---|---:|---:|---|"]
    for r in g["rows"]:
        verdict = "ok" if r["ok"] else "NOT MEASURED" if r["value"] is None else "OVER" if r.get("ceiling") \
            else "BELOW FLOOR"
        lines.append(f"| {r['metric']} | {_f(r['floor'])} | {_f(r['value'])} | {verdict} |")
    lines += ["", ("FAILED: " + ", ".join(g["failed"])) if g["failed"] else "all floors kept"]
    if any(r["value"] is None for r in g["rows"]):
        lines.append("(a metric is not measured when the run has no item it applies to, e.g. no unanswerable "
                     "question in a --limit run: gate a run of the whole dataset)")
    return "\n".join(lines) + "\n"

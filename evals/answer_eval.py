"""Answer quality of the assistant on the hand-written questions about the sample library
(``evals/datasets/sample_questions.jsonl``: direct, traditional-Chinese, code, follow-up,
unanswerable and prompt-injection questions, each with its gold record ids).

Reports citation precision (cited ids that are gold), answer hit rate (a gold record cited),
abstention precision and recall, the share of cited sentences that pass verification, the support
scores of answerable and unanswerable questions (for calibrating ``CASEPILOT_ABSTAIN_BELOW``), and
answer latency (retrieval included).

    python -m evals.answer_eval [--dataset FILE] [--out eval-out]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from assistant.answering import INJECTION, Assistant, ContextRecord
from assistant.library import Library
from assistant.settings import Settings
from ingestion.pipeline import Ingestor

ROOT = Path(__file__).resolve().parent.parent
DATASET = ROOT / "evals" / "datasets" / "sample_questions.jsonl"
SAMPLE = ROOT / "ingestion" / "sample_library"


def load(path: Path) -> list[dict[str, Any]]:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}:{n}: invalid JSON: {e.msg}") from None
        for key in ("question", "relevant_ids"):
            if key not in item:
                raise SystemExit(f"{path}:{n}: missing field {key!r}")
        items.append(item)
    return items


def run(items: list[dict[str, Any]], assistant: Assistant) -> list[dict[str, Any]]:
    rows = []
    for it in items:
        a = assistant.ask(it["question"], conversation=it.get("conversation") or [])
        cited = list(dict.fromkeys(c.id for c in a.citations))
        rows.append({
            "id": it.get("id"), "category": it.get("category", ""), "question": it["question"],
            "gold": it["relevant_ids"], "unanswerable": bool(it.get("unanswerable")), "abstained": a.abstained,
            "cited": cited, "support": a.support, "seconds": a.seconds,
            "features": assistant.support_features(a.retrieval_query, a.context, [
                ContextRecord(h, r) for h in a.context if (r := assistant.lib.store.get(assistant.lib.tenant, h.id))]),
            "verified": sum(c.verified for c in a.citations), "citations": len(a.citations),
            "injection_leak": bool(INJECTION.search(a.answer)) or "退款已批准" in a.answer,
            "answer": a.answer,
        })
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [r for r in rows if not r["abstained"]]
    answerable = [r for r in rows if not r["unanswerable"]]
    cited = [(cid, r) for r in answered for cid in r["cited"]]
    abst = [r for r in rows if r["abstained"]]
    unans = [r for r in rows if r["unanswerable"]]
    secs = [r["seconds"] * 1000 for r in rows]
    return {
        "questions": len(rows),
        "citation_precision": sum(cid in r["gold"] for cid, r in cited) / len(cited) if cited else 0.0,
        "answer_hit_rate": sum(any(c in r["gold"] for c in r["cited"]) for r in answerable) / len(answerable),
        "abstention_precision": sum(r["unanswerable"] for r in abst) / len(abst) if abst else 0.0,
        "abstention_recall": sum(r["abstained"] for r in unans) / len(unans) if unans else 0.0,
        "verified_share": sum(r["verified"] for r in rows) / max(1, sum(r["citations"] for r in rows)),
        "injection_leaks": sum(r["injection_leak"] for r in rows),
        "latency_p50_ms": round(float(np.percentile(secs, 50)), 1),
        "latency_p95_ms": round(float(np.percentile(secs, 95)), 1),
        "support_answerable_median": round(statistics.median(r["support"] for r in answerable), 3),
        "support_unanswerable_median": round(statistics.median(r["support"] for r in unans), 3) if unans else None,
    }


def calibration(rows: list[dict[str, Any]]) -> list[tuple[float, float, float]]:
    """(threshold, abstention precision, recall) over a grid of thresholds."""
    out = []
    for th in np.arange(0.50, 0.801, 0.01):
        abst = [r for r in rows if r["support"] < th]
        unans = [r for r in rows if r["unanswerable"]]
        p = sum(r["unanswerable"] for r in abst) / len(abst) if abst else 0.0
        rec = sum(r["support"] < th for r in unans) / len(unans) if unans else 0.0
        out.append((round(float(th), 2), round(p, 3), round(rec, 3)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=DATASET)
    ap.add_argument("--out", type=Path, default=Path("eval-out"))
    ap.add_argument("--home", type=Path, help="keep the imported sample library here (re-used when run again)")
    args = ap.parse_args(argv)
    items = load(args.dataset)
    home = args.home or Path(tempfile.mkdtemp(prefix="cp-answer-eval-"))
    try:
        lib = Library(Settings(home=home))
        Ingestor(lib).ingest_paths([SAMPLE])
        assistant = Assistant(lib)
        assistant.ask("预热")  # load the models before timing
        rows = run(items, assistant)
        summary = summarise(rows)
        lib.close()
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    print(f"answers on {args.dataset.name} ({summary['questions']} questions), engine {assistant.engine.name}, "
          f"abstain below support {assistant.support_threshold}")
    print("| metric | value |\n|---|---:|")
    for k, v in summary.items():
        print(f"| {k} | {v if not isinstance(v, float) else round(v, 3)} |")
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_cat.setdefault(r["category"], []).append(r)
    print("\n| category | questions | hit rate (answerable) | abstained |\n|---|---:|---:|---:|")
    for cat, rs in sorted(by_cat.items()):
        ans = [r for r in rs if not r["unanswerable"]]
        hit = sum(any(c in r["gold"] for c in r["cited"]) for r in ans) / len(ans) if ans else float("nan")
        print(f"| {cat} | {len(rs)} | {hit:.2f} | {sum(r['abstained'] for r in rs)} |")
    print("\nabstention threshold sweep (threshold, precision, recall):", file=sys.stderr)
    print(" ".join(f"{t}:{p}/{r}" for t, p, r in calibration(rows)), file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "answers.json").write_text(json.dumps({"summary": summary, "items": rows}, ensure_ascii=False,
                                                      indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Drafting quality: how closed tickets become case drafts, and how well duplicates are caught.

1. The 300 real customer-service conversations in ``../shared/data/dev/jddc/`` (JD.com, Chinese)
   are drafted with the default ``extractive`` drafter: how many were drafted, how many skipped and
   why, the share of draft sentences with a source message, and each section's fill rate.
2. Duplicate detection on pairs built from the sample library: each of the 12 sample tickets was
   written about one of the library's cases (the gold pairs below); its draft should be flagged as a
   duplicate of that case and of no other. Precision and recall over a threshold sweep, with the
   default models, choose ``CASEPILOT_DUPLICATE_THRESHOLD``.

    python -m evals.draft_eval [--dev-data ../shared/data/dev] [--home DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from assistant.drafting import SECTIONS, draft_extractive
from assistant.library import Library
from assistant.settings import Settings
from evals.devdata import DEFAULT_DEV
from ingestion.pipeline import Ingestor
from ingestion.review import Review

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "ingestion" / "sample_library"
# which case of the sample library each sample ticket is about (read by hand)
TICKET_CASE = {
    "T-2024-0301": "C-000101", "T-2024-0302": "C-000113", "T-2024-0303": "C-000118", "T-2024-0304": "C-000127",
    "T-2024-0305": "C-000128", "T-2024-0306": "C-000132", "T-2024-0307": "C-000115", "T-2024-0308": "C-000105",
    "T-2024-0309": "C-000107", "T-2024-0310": "C-000119", "T-2024-0311": "C-000136", "T-2024-0312": "C-000146",
}


def jddc_tickets(dev: Path) -> list[dict[str, Any]]:
    """The JDDC sessions as tickets: column 3 says who sent a line (1: the agent), column 7 its text."""
    sessions: dict[str, list[dict[str, str]]] = {}
    path = dev / "jddc" / "chat_dev_300_sessions.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) < 7:
            continue
        sid, who, text = parts[0], parts[2], "\t".join(parts[6:]).strip()
        msgs = sessions.setdefault(sid, [])
        msgs.append({"id": f"m{len(msgs) + 1}", "role": "agent" if who == "1" else "customer", "text": text})
    return [{"id": sid, "subject": "", "status": "closed", "messages": msgs} for sid, msgs in sessions.items()]


def drafting_report(tickets: list[dict[str, Any]]) -> dict[str, Any]:
    drafted = []
    reasons: Counter[str] = Counter()
    for t in tickets:
        d = draft_extractive(t)
        if d.skipped:
            reasons[d.skipped.split(" (")[0]] += 1
        else:
            drafted.append(d)
    sentences = [s for d in drafted for s in d.sentences]
    return {
        "tickets": len(tickets), "drafted": len(drafted), "skipped": sum(reasons.values()),
        "skip_reasons": dict(reasons.most_common()),
        "sourced_share": round(sum(bool(s.sources) for s in sentences) / max(1, len(sentences)), 3),
        "fill_rate": {sec: round(sum(bool(d.section(sec)) for d in drafted) / max(1, len(drafted)), 3)
                      for sec in SECTIONS},
        "sentences_per_draft": round(len(sentences) / max(1, len(drafted)), 1),
    }


def duplicate_sweep(home: Path) -> list[tuple[float, float, float]]:
    lib = Library(Settings(home=home))
    Ingestor(lib).ingest_paths([SAMPLE])
    review = Review(lib)
    lib.settings.duplicate_threshold = -1.0  # every retrieved case, with its similarity
    scored: list[tuple[float, bool]] = []
    for rec in lib.store.records(lib.tenant, kind="ticket"):
        problem = next((m["text"] for m in rec.data.get("messages", []) if m.get("role") == "customer"), "")
        for cand in review.duplicates(rec.data.get("subject", ""), problem):
            scored.append((cand["similarity"], TICKET_CASE.get(rec.id) == cand["id"]))
    lib.close()
    positives = len(TICKET_CASE)
    out = []
    for th in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        flagged = [ok for s, ok in scored if s >= th]
        p = sum(flagged) / len(flagged) if flagged else 1.0
        out.append((th, round(p, 3), round(sum(flagged) / positives, 3)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--home", type=Path, help="keep the imported sample library here")
    args = ap.parse_args(argv)
    sample = [json.loads(x) for x in (SAMPLE / "tickets.jsonl").read_text(encoding="utf-8").splitlines() if x]
    reports = {"sample tickets": drafting_report(sample)}
    if (args.dev_data / "jddc").exists():
        reports["JDDC dev (300 real conversations)"] = drafting_report(jddc_tickets(args.dev_data))
    else:
        print(f"no JDDC data under {args.dev_data}; skipped", file=sys.stderr)
    print("| tickets | drafted | skipped (reasons) | sentences with a source | problem / diagnosis / solution / "
          "outcome filled | sentences per draft |\n|---|---:|---|---:|---|---:|")
    for name, r in reports.items():
        reasons = ", ".join(f"{k}: {v}" for k, v in r["skip_reasons"].items()) or "-"
        fill = " / ".join(f"{r['fill_rate'][s]:.2f}" for s in SECTIONS)
        print(f"| {name}: {r['tickets']} | {r['drafted']} | {r['skipped']} ({reasons}) | {r['sourced_share']:.2f} "
              f"| {fill} | {r['sentences_per_draft']} |")
    home = args.home or Path(tempfile.mkdtemp(prefix="cp-draft-eval-"))
    try:
        sweep = duplicate_sweep(home)
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)
    print("\nduplicate detection, 12 sample tickets against the sample library's cases (default models):")
    print("| threshold | precision | recall |\n|---:|---:|---:|")
    for th, prec, rec in sweep:
        print(f"| {th} | {prec} | {rec} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

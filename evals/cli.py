"""``casepilot eval``, which the ``casepilot.commands`` entry point adds to the command line (the
product never imports the evaluation code): run an evaluation set into a run folder, compare two runs
(the shipping gate), and convert public development data into evaluation sets.

    casepilot eval run --dataset FILE [--library PATH] [--llm extractive|openai:MODEL] [--prompt-version N]
                       [--out DIR] [--limit N] [--concurrency N] [--judge openai:MODEL] [--json]
    casepilot eval compare RUN_A RUN_B [--fail-on-regression] [--tolerance 0.01] [--json]
    casepilot eval gate RUN [--baselines evals/baselines.yaml] [--tolerance 0.01] [--json]
    casepilot eval convert SET --out DIR [--dev-data DIR] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from assistant.errors import InputError


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")


def _default_out(dataset: Path) -> Path:
    return Path("eval-out") / "runs" / f"{dataset.stem}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def cmd_eval_run(args: argparse.Namespace) -> int:
    from evals.harness.runner import RunOptions, run

    if args.limit is not None and args.limit < 1:
        raise InputError("--limit must be 1 or more")
    if args.concurrency < 1 or args.concurrency > 64:
        raise InputError("--concurrency must be between 1 and 64")
    out = Path(args.out) if args.out else _default_out(Path(args.dataset))
    res = run(RunOptions(
        dataset=Path(args.dataset), out=out, library=Path(args.library) if args.library else None,
        home=Path(args.home) if args.home else None, tenant=args.tenant, llm=args.llm, embedder=args.embedder,
        prompt_version=args.prompt_version, prompt_file=Path(args.prompt_file) if args.prompt_file else None,
        limit=args.limit or 0, concurrency=args.concurrency, judge=args.judge, progress=not args.json,
        compact=args.compact))
    s = res.summary
    if args.json:
        emit({"out": str(res.out), "kind": res.kind, "items": s["items"], "completed": s["completed"],
               "computed": res.computed, "resumed": res.resumed, "errors": res.errors, "metrics": s["metrics"],
               "report": str(res.out / "report.html")})
    else:
        print(f"{s['dataset']} ({res.kind} set): {s['completed']}/{s['items']} items "
              f"({res.computed} computed, {res.resumed} from an earlier run)")
        for k, v in s["metrics"].items():
            if v is not None:
                print(f"  {k:<48} {v:.3f}{'  (gated)' if k in s['gated'] else ''}")
        for e in res.errors:
            print(f"failed: {e}", file=sys.stderr)
        print(f"report: {res.out / 'report.md'} and report.html")
    return 1 if res.errors else 0


def cmd_eval_compare(args: argparse.Namespace) -> int:
    from evals.harness.compare import compare, render

    if args.tolerance < 0:
        raise InputError("--tolerance must be 0 or more")
    c = compare(Path(args.run_a), Path(args.run_b), tolerance=args.tolerance, resamples=args.resamples)
    if args.json:
        emit(c)
    else:
        sys.stdout.write(render(c))
    if args.fail_on_regression and c["regressions"]:
        print(f"casepilot: gate failed: {', '.join(c['regressions'])} regressed", file=sys.stderr)
        return 1
    if args.fail_on_regression and c["missing_in_b"]:  # a partial run must not pass the gate
        print(f"casepilot: gate failed: {args.run_b} lacks {c['missing_in_b']} of the baseline's items "
              "(a --limit run covers only part of the dataset; compare a run of the whole dataset)", file=sys.stderr)
        return 1
    return 0


def cmd_eval_gate(args: argparse.Namespace) -> int:
    from evals.harness.compare import gate, render_gate

    g = gate(Path(args.run), Path(args.baselines), tolerance=args.tolerance)
    if args.json:
        emit(g)
    else:
        sys.stdout.write(render_gate(g))
    if g["failed"]:
        unmeasured = [r["metric"] for r in g["rows"] if r["value"] is None]
        below = [m for m in g["failed"] if m not in unmeasured]
        parts = ([f"{', '.join(below)} below the floor"] if below else []) + (
            [f"{', '.join(unmeasured)} not measured in this run"] if unmeasured else [])
        print(f"casepilot: gate failed: {'; '.join(parts)}", file=sys.stderr)
        return 1
    return 0


def cmd_eval_convert(args: argparse.Namespace) -> int:
    from evals.devdata import DEFAULT_DEV
    from evals.harness.convert import convert

    res = convert(args.set, Path(args.out), Path(args.dev_data) if args.dev_data else DEFAULT_DEV, args.limit or 0)
    if args.json:
        emit(res)
    else:
        print(f"{res['set']}: {res['items']} {res['kind']} items → {res['dataset']}"
              + (f"; library ({res['library_records']} records) → {res['library']}" if res.get("library") else ""))
        print(f"evaluate with: {res['command']}")
    return 0


def register_eval(sub: Any, common: argparse.ArgumentParser) -> None:
    from evals.harness.convert import SETS

    e = sub.add_parser("eval", help="evaluate retrieval, answers, citations, tags and drafts; compare runs",
                       description="Run evaluation sets into run folders (config, per-item results, summary, "
                                   "Markdown and HTML reports), compare two runs with paired bootstrap intervals "
                                   "(the gate), and convert public development data into evaluation sets.")
    actions = e.add_subparsers(dest="eval_command", required=True, metavar="ACTION")

    s = actions.add_parser("run", parents=[common], help="evaluate a dataset into a run folder (resumable)",
                           description="Answer sets (question, relevant_ids): Assistant.ask per item against a "
                                       "library (default: the sample library imported into a temporary home). Tag "
                                       "sets (text, tags): tag suggestions. Draft sets (ticket): drafts. Rerunning "
                                       "with the same --out resumes: finished items are not recomputed.")
    s.add_argument("--dataset", required=True, metavar="FILE", help="JSON Lines evaluation set")
    s.add_argument("--library", metavar="PATH", help="records to import (file or folder), or a casepilot home to use "
                                                    "as is (default: ingestion/sample_library, or --home when it "
                                                    "already holds a library)")
    s.add_argument("--llm", metavar="ENGINE", help="extractive or openai:MODEL (default: $CASEPILOT_LLM)")
    s.add_argument("--prompt-version", type=int, metavar="N", help="require the answer prompt to be at version N")
    s.add_argument("--prompt-file", metavar="FILE", help="evaluate this answer prompt file instead (openai: engines)")
    s.add_argument("--out", metavar="DIR", help="run folder (default: eval-out/runs/DATASET-TIMESTAMP)")
    s.add_argument("--limit", type=int, metavar="N", help="only the first N items")
    s.add_argument("--concurrency", type=int, default=4, metavar="N",
                   help="model calls in flight at once with an openai: engine (default 4)")
    s.add_argument("--judge", metavar="openai:MODEL",
                   help="judge model for ragas faithfulness and answer relevancy (default: $CASEPILOT_JUDGE; "
                        "none: not run)")
    s.add_argument("--compact", action="store_true",
                   help="keep items.jsonl small (no answer texts or snippets), e.g. for a committed baseline")
    s.set_defaults(func=cmd_eval_run)

    s = actions.add_parser("compare", parents=[common], help="metric deltas of run B against run A, with CIs",
                           description="Metric deltas (B − A) with 95% paired bootstrap intervals over the shared "
                                       "items, and the items that got worse. With --fail-on-regression, exit 1 "
                                       "when a gated metric got worse by more than --tolerance and its interval "
                                       "excludes 0.")
    s.add_argument("run_a", metavar="RUN_A", help="the reference run folder (e.g. a baseline)")
    s.add_argument("run_b", metavar="RUN_B", help="the candidate run folder")
    s.add_argument("--fail-on-regression", action="store_true", help="exit 1 when a gated metric regressed")
    s.add_argument("--tolerance", type=float, default=0.01, help="how much worse a gated metric may get (default 0.01)")
    s.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    s.set_defaults(func=cmd_eval_compare)

    s = actions.add_parser("gate", parents=[common], help="check a run against the floors in evals/baselines.yaml",
                           description="Exit 1, with a table, when a metric of the run is below the floor "
                                       "evals/baselines.yaml records for its dataset and engine (minus --tolerance).")
    s.add_argument("run", metavar="RUN")
    s.add_argument("--baselines", default="evals/baselines.yaml", metavar="FILE",
                   help="the floors, per dataset and engine (default evals/baselines.yaml)")
    s.add_argument("--tolerance", type=float, default=0.01, help="how far below a floor still passes (default 0.01)")
    s.set_defaults(func=cmd_eval_gate)

    s = actions.add_parser("convert", parents=[common], help="build an evaluation set from public dev data",
                           description="afqmc, bq, lcqmc: FAQ retrieval sets; cic, banking77: tag sets with their "
                                       "library; jddc: a draft set; sample-tickets: the sample tickets with the "
                                       "case each is about as reference.")
    s.add_argument("set", choices=SETS)
    s.add_argument("--out", required=True, metavar="DIR")
    s.add_argument("--dev-data", metavar="DIR", help="default: ../shared/data/dev")
    s.add_argument("--limit", type=int, metavar="N", help="at most N evaluation items")
    s.set_defaults(func=cmd_eval_convert)

"""Processor time of answers to questions asked the first time, in one API worker: ``casepilot serve``
(one worker, one OpenMP thread: a worker of ``--workers 2`` on 2 cores) on a temporary home holding the
sample library, asked the sample questions one at a time through ``POST /v1/ask``, each once, then
again. Prints the server's processor time (its process and threads, from /proc, so apart from the
machine's load) for the worker's first answer, per first-asked answer and per repeated one: the cost
that 20 concurrent new questions queue on (``evals.bench_api``'s first-asked p99).

    python -m evals.bench_first_asked [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import httpx

from evals.bench_api import QUESTIONS, SAMPLE, cli, processor_seconds, serve


def once(home: Path, key: str) -> tuple[float, float, float]:
    """The first answer's processor time (ms), then the mean of the other first-asked ones and of the
    repeated ones."""
    questions = [json.loads(ln)["question"] for ln in QUESTIONS.read_text(encoding="utf-8").splitlines() if ln]
    server, url = serve(home, 1, {"OMP_NUM_THREADS": "1"})
    try:
        cpu = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
            for q in questions * 2:
                before = processor_seconds(server.pid)
                c.post("/v1/ask", json={"question": q}).raise_for_status()
                cpu.append(1000 * (processor_seconds(server.pid) - before))
    finally:
        server.terminate()
        server.wait(30)
    n = len(questions)
    return cpu[0], sum(cpu[1:n]) / (n - 1), sum(cpu[n:]) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1, help="servers started one after another, each on a fresh home")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="cp-bench-first-"))
    try:
        cli(root / "base", "ingest", str(SAMPLE), "--json")
        key = json.loads(cli(root / "base", "keys", "create", "--role", "agent", "--name", "bench", "--json"))["key"]
        print("| run | first answer ms | first-asked ms (mean of 99) | repeated ms (mean of 100) |")
        print("|---:|---:|---:|---:|")
        for run in range(1, args.runs + 1):
            home = root / f"run-{run}"
            shutil.copytree(root / "base", home)  # no stored query vectors: every question is new
            first, cold, warm = once(home, key)
            print(f"| {run} | {first:.0f} | {cold:.1f} | {warm:.1f} |", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

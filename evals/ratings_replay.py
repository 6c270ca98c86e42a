"""Replay of ratings on real questions: does the ratings' prior (``assistant/rating_prior.py``) help?

Sets (``../shared/data/dev/``): BQ (bank FAQ paraphrase pairs, ``devdata.faq_retrieval_set``: gold is
one FAQ) and CIC (e-commerce utterances labelled with intents, ``devdata.intent_abstention_set``
with no intent held out: three utterances of each intent are its FAQs, any of them is gold).

Split: questions are grouped by what answers them (BQ: the gold FAQ; CIC: the intent), and each
group's distinct questions go alternately to half A (rated) and half B (measured), in a stable hash
order; a group of one question goes to either half by its hash. So B holds other wordings of
questions rated in A (the claim: a rating of one wording helps the next agent who asks another)
and questions whose group nothing in A speaks of (the control: the prior must not hurt them).

On half A each question is "asked" (casepilot's real retrievers, default settings) and its answer
cites the top record. Simulated raters, through the real store: four honest agents (each question is
asked by one; 60% of answers rated: helpful when the cited record is gold, not helpful otherwise; when
it is not gold and a gold record is in the top 5, half the time the agent opens it from the answer),
and one adversary who rates every answer, not helpful when it cites gold and helpful when it does
not. On half B: hit@1, MRR@10 and (``--answers N``) the rate at which the extractive answer cites a
gold record, without and with the prior, with 95% paired bootstrap intervals.

    python -m evals.ratings_replay [--sets bq cic] [--per-set 1000] [--answers 150] [--tune]

``--tune`` chooses the prior's ``near`` (and ``full = near + 0.05``) and ``scale`` on half A alone
(rated A1, measured A2; honest raters and the adversary), before anything is measured on half B.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HONEST = ("agent-1", "agent-2", "agent-3", "agent-4")
ADVERSARY = "adversary"
SCENARIOS = ("honest", "honest+adversary", "adversary alone")
K = 10
N = 50


@dataclass
class Question:
    text: str  # normalised
    gold: frozenset[str]
    group: str
    ranked: list[tuple[str, float]]  # (chunk id, fused score), best first
    half: str = ""


def _hash(s: str) -> int:
    return zlib.crc32(s.encode("utf-8"))


def split_halves(questions: Sequence[Question], names: tuple[str, str] = ("A", "B")) -> None:
    """Each group's questions alternately to the two halves in hash order; a lone question by its hash."""
    groups: dict[str, list[Question]] = {}
    for q in questions:
        groups.setdefault(q.group, []).append(q)
    for g, qs in groups.items():
        qs.sort(key=lambda q: _hash(q.text))
        first = _hash(g) % 2
        for i, q in enumerate(qs):
            q.half = names[(i + first) % 2]


def load_set(name: str, dev: Path) -> tuple[list[Any], list[tuple[str, frozenset[str], str]]]:
    """Records to import and (question, gold record ids, group) of a set."""
    from assistant.types import Article
    from evals.devdata import faq_retrieval_set, intent_abstention_set, intent_utterances

    if name == "bq":
        fs = faq_retrieval_set("bq", dev)
        records = [Article(id=i, title=q, body="", faq=True) for i, q in fs.pool]
        return records, [(q, frozenset([g]), g) for q, g in fs.queries]
    if name == "cic":
        ab = intent_abstention_set("cic", dev, hold_out=0)
        intents: dict[str, set[str]] = {}
        label = dict(intent_utterances("cic", dev))  # a pool FAQ is an utterance of its intent
        for i, q in ab.pool:
            intents.setdefault(label[q], set()).add(i)
        records = [Article(id=i, title=q, body="", faq=True) for i, q in ab.pool]
        return records, [(q, frozenset(intents[g]), g) for q, g in ab.answerable if g in intents]
    raise ValueError(name)


def capped(items: Sequence[tuple[str, frozenset[str], str]], n: int) -> list[tuple[str, frozenset[str], str]]:
    """At most ``n`` questions, spread over the set: three quarters (or all) from groups of several
    questions, whole groups taken (every k-th), the rest from groups of one (``logistic_training.sample``)."""
    from evals.logistic_training import sample

    if not n or len(items) <= n:
        return list(items)
    sizes: dict[str, int] = {}
    for _, _, g in items:
        sizes[g] = sizes.get(g, 0) + 1
    groups = sorted({g for g, size in sizes.items() if size > 1})
    room = n * 3 // 4
    share = room / max(1, sum(sizes[g] for g in groups))
    kept = {g for i, g in enumerate(groups) if int((i + 1) * share) > int(i * share)} if share < 1 else set(groups)
    multi = [it for it in items if it[2] in kept][:room]
    return multi + sample([it for it in items if sizes[it[2]] == 1], n - len(multi))


def collect(lib: Any, items: Sequence[tuple[str, frozenset[str], str]]) -> list[Question]:
    from assistant.index.filters import Filters
    from assistant.text import normalise

    out: dict[str, Question] = {}
    hybrid = lib.retriever.chunk_retriever
    t0 = time.perf_counter()
    for n, (text, gold, group) in enumerate(items, 1):
        q = normalise(text)
        if not q or q in out:
            continue
        cands = hybrid.candidates(q, N, Filters())
        out[q] = Question(q, gold, group, [(c.chunk_id, c.score) for c in cands])
        if n % 500 == 0:
            print(f"  {n}/{len(items)} searched ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return list(out.values())


def ranking(q: Question, prior: Any) -> list[str]:
    from assistant.chunking import record_of
    from assistant.rating_prior import with_prior
    from assistant.retrieval import Candidate

    cands = with_prior(prior, q.text, [Candidate(cid, s) for cid, s in q.ranked])
    return [record_of(c.chunk_id) for c in cands]


def reciprocal_rank(ids: Sequence[str], gold: frozenset[str]) -> float:
    for i, rid in enumerate(ids[:K]):
        if rid in gold:
            return 1.0 / (i + 1)
    return 0.0


def write_ratings(lib: Any, rated: Sequence[Question], scenario: str, seed: int = 0) -> dict[str, int]:
    """Clear the tenant's answers, ratings and opens, then log an answer for each question of
    ``rated`` (citing its top record) and the scenario's ratings and opens, through the store."""
    import sqlalchemy as sa

    from assistant.store import schema as t

    store, tenant = lib.store, lib.tenant
    with store.engine.begin() as conn:
        for table in (t.feedback, t.answer_opens, t.answers):
            conn.execute(sa.delete(table).where(table.c.tenant == tenant))
    rng = random.Random(seed)
    counts = {"answers": 0, "ratings": 0, "opens": 0}
    for q in rated:
        ids = ranking(q, None)
        if not ids:
            continue
        top = ids[0]
        aid = uuid.uuid4().hex
        store.log_answer(tenant, {"id": aid, "ticket_id": None, "question": q.text, "answer": "",
                                  "citations": json.dumps([{"id": top}]), "abstained": False, "support": 1.0,
                                  "engine": "replay"})
        counts["answers"] += 1
        right = top in q.gold
        if scenario != "adversary alone":
            agent = HONEST[_hash(q.text) % len(HONEST)]
            if rng.random() < 0.6:
                store.add_feedback(tenant, aid, right, rater=agent)
                counts["ratings"] += 1
            gold_near = next((rid for rid in ids[1:5] if rid in q.gold), None)
            if not right and gold_near and rng.random() < 0.5:
                store.add_open(tenant, aid, gold_near, rater=agent)
                counts["opens"] += 1
        if scenario != "honest":
            store.add_feedback(tenant, aid, not right, rater=ADVERSARY)
            counts["ratings"] += 1
    return counts


def make_prior(lib: Any, **params: float) -> Any:
    from assistant.rating_prior import RatingPrior

    return RatingPrior(lib.store, lib.tenant, lambda qs: lib.query_vectors.embed_many(lib.embedder, qs),
                       lambda q: lib.query_vectors.embed(lib.embedder, q), refresh_seconds=0.0, **params)


def measure(questions: Sequence[Question], prior: Any) -> tuple[np.ndarray, np.ndarray]:
    before = np.array([reciprocal_rank(ranking(q, None), q.gold) for q in questions])
    after = np.array([reciprocal_rank(ranking(q, prior), q.gold) for q in questions])
    return before, after


def cited_rates(lib: Any, questions: Sequence[Question], prior: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per question, 1 when the extractive answer cites a gold record, without and with the prior."""
    from assistant.answering import Assistant

    assistant = Assistant(lib, log=False)
    out = []
    for p in (None, prior):
        lib.retriever.prior = p
        out.append(np.array([float(any(c.id in q.gold for c in assistant.ask(q.text).citations))
                             for q in questions]))
    lib.retriever.prior = None
    return out[0], out[1]


def tune(lib: Any, half_a: Sequence[Question]) -> dict[str, float]:
    """``near`` and ``scale`` with the best MRR@10 on A2 after A1's ratings (honest and the adversary)."""
    for q in half_a:
        q.half = ""
    split_halves(half_a, ("A1", "A2"))
    a1 = [q for q in half_a if q.half == "A1"]
    a2 = [q for q in half_a if q.half == "A2"]
    write_ratings(lib, a1, "honest+adversary")
    best: tuple[float, dict[str, float]] = (-1.0, {})
    for near in (0.86, 0.88, 0.90, 0.92, 0.94):
        for scale in (1.0, 2.0, 4.0):
            params = {"near": near, "full": near + 0.05, "scale": scale}
            _, after = measure(a2, make_prior(lib, **params))
            print(f"  tune near {near:.2f} scale {scale:.0f}: A2 MRR@10 {after.mean():.4f}", file=sys.stderr)
            if after.mean() > best[0] + 1e-9:
                best = (float(after.mean()), params)
    for q in half_a:
        q.half = "A"
    return best[1]


def row(name: str, sub: str, before: np.ndarray, after: np.ndarray) -> str:
    from evals.longdoc_eval import paired_bootstrap

    h1b, h1a = (before >= 1.0).astype(float), (after >= 1.0).astype(float)
    d1, lo1, hi1 = paired_bootstrap(h1b, h1a)
    d, lo, hi = paired_bootstrap(before, after)
    return (f"| {name} | {sub} | {len(before)} | {h1b.mean():.3f} → {h1a.mean():.3f} | {d1:+.4f} [{lo1:+.4f}, "
            f"{hi1:+.4f}] | {before.mean():.3f} → {after.mean():.3f} | {d:+.4f} [{lo:+.4f}, {hi:+.4f}] |")


def main(argv: list[str] | None = None) -> int:
    from assistant.library import Library
    from assistant.settings import Settings
    from evals.devdata import DEFAULT_DEV
    from ingestion.pipeline import Ingestor

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--sets", nargs="+", choices=("bq", "cic"), default=["bq", "cic"])
    ap.add_argument("--answers", type=int, default=0, help="also measure gold-cited answers on N questions of B")
    ap.add_argument("--tune", action="store_true", help="choose near and scale on half A first")
    ap.add_argument("--per-set", type=int, default=1000, help="at most N questions per set (0: all)")
    ap.add_argument("--pool", type=int, default=0, help="index at most N records: the kept questions' gold records "
                                                         "and, spread over the rest, distractors (0: all)")
    args = ap.parse_args(argv)
    if not (args.dev_data / "bq_corpus").is_dir():
        print(f"no dev data at {args.dev_data}; nothing to replay", file=sys.stderr)
        return 0
    print("| set | questions of B | n | hit@1 without → with | hit@1 change [95%] | MRR@10 without → with | "
          "MRR@10 change [95%] |")
    print("|---|---|---:|---|---|---|---|")
    for name in args.sets:
        records, items = load_set(name, args.dev_data)
        items = capped(items, args.per_set)
        if args.pool and len(records) > args.pool:
            from evals.logistic_training import sample

            golds = set().union(*(g for _, g, _ in items))
            records = [r for r in records if r.id in golds] + sample(
                [r for r in records if r.id not in golds], max(0, args.pool - len(golds)))
        home = Path(tempfile.mkdtemp(prefix=f"cp-ratings-{name}-"))
        try:
            lib = Library(Settings(home=home, rating_prior=False))
            t0 = time.perf_counter()
            Ingestor(lib).ingest_records(records)
            print(f"{name}: {len(records)} records indexed in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            questions = collect(lib, items)
            split_halves(questions)
            half_a = [q for q in questions if q.half == "A"]
            half_b = [q for q in questions if q.half == "B"]
            rated_groups = {q.group for q in half_a}
            params = tune(lib, half_a) if args.tune else {}
            if params:
                print(f"{name}: chosen on half A: {params}", file=sys.stderr)
            for scenario in SCENARIOS:
                counts = write_ratings(lib, half_a, scenario)
                prior = make_prior(lib, **params)
                print(f"{name} / {scenario}: {counts}", file=sys.stderr)
                before, after = measure(half_b, prior)
                seen = np.array([q.group in rated_groups for q in half_b])
                print(row(f"{name}, {scenario}", "all", before, after))
                print(row(f"{name}, {scenario}", "asked in A", before[seen], after[seen]))
                print(row(f"{name}, {scenario}", "not asked in A", before[~seen], after[~seen]))
                if args.answers and scenario == "honest+adversary":
                    from evals.logistic_training import sample
                    from evals.longdoc_eval import paired_bootstrap

                    sub = sample([q for q in half_b if q.group in rated_groups], args.answers)
                    b, a = cited_rates(lib, sub, prior)
                    d, lo, hi = paired_bootstrap(b, a)
                    print(f"| {name}, {scenario} | gold cited (asked in A) | {len(sub)} | {b.mean():.3f} → "
                          f"{a.mean():.3f} | {d:+.4f} [{lo:+.4f}, {hi:+.4f}] | | |")
                sys.stdout.flush()
            lib.close()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

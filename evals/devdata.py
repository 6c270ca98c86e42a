"""Converters from the public development data in ``../shared/data/dev/`` to casepilot's records and
evaluation sets. None of that data ships with the product; callers skip when it is absent."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "dev"


@dataclass
class FaqRetrievalSet:
    """A pool of FAQ questions to index and queries with the id of the FAQ that answers each."""

    name: str
    pool: list[tuple[str, str]]  # (faq id, question)
    queries: list[tuple[str, str]]  # (query, gold faq id)


def _pairs(dev: Path, name: str) -> list[tuple[str, str, str]]:
    if name == "afqmc":
        rows = [json.loads(x) for x in (dev / "afqmc" / "clue_dev.json").read_text(encoding="utf-8").splitlines() if x]
        return [(r["sentence1"], r["sentence2"], str(r["label"])) for r in rows]
    if name == "bq":
        with (dev / "bq_corpus" / "dev.csv").open(encoding="utf-8-sig", newline="") as f:
            return [(r["sentence1"], r["sentence2"], r["label"]) for r in csv.DictReader(f)]
    if name == "lcqmc":
        out = []
        for line in (dev / "lcqmc" / "test.txt").read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                out.append((parts[0], parts[1], parts[2]))
        return out
    raise ValueError(f"unknown set {name!r}; use afqmc, bq or lcqmc")


def faq_retrieval_set(name: str, dev: Path = DEFAULT_DEV) -> FaqRetrievalSet:
    """Index the unique second sentences of all pairs (negatives stay as hard distractors); query with
    the first sentence of each positive pair; skip queries whose exact text is in the pool."""
    pairs = _pairs(dev, name)
    ids: dict[str, str] = {}
    for _, s2, _ in pairs:
        ids.setdefault(s2.strip(), f"{name.upper()}-{len(ids) + 1:05d}")
    queries = []
    seen = set()
    for s1, s2, label in pairs:
        q = s1.strip()
        if label != "1" or q in ids or (q, s2) in seen:
            continue
        seen.add((q, s2))
        queries.append((q, ids[s2.strip()]))
    return FaqRetrievalSet(name, [(i, s) for s, i in ids.items()], queries)


def faq_records(ds: FaqRetrievalSet) -> list[dict[str, Any]]:
    """The pool as FAQ articles (the question is the title; the answer is not part of these sets)."""
    return [{"kind": "article", "faq": True, "id": i, "title": q, "body": q, "tags": []} for i, q in ds.pool]


_PRIORITY = {"high": "P2", "critical": "P1", "medium": "P3", "low": "P4"}


def support_ticket_cases(dev: Path = DEFAULT_DEV, limit: int | None = None) -> list[dict[str, Any]]:
    """The English/German support tickets as solved cases: problem = the customer's body, solution = the
    agent's answer, tags from the ticket's tag columns."""
    out = []
    with (dev / "support_tickets" / "tickets_en_de.csv").open(encoding="utf-8", newline="") as f:
        for n, r in enumerate(csv.DictReader(f), 1):
            body, answer = (r.get("body") or "").strip(), (r.get("answer") or "").strip()
            if not body or not answer:
                continue
            title = (r.get("subject") or "").strip() or body.split("\n")[0][:60]
            tags = [f"topic/{t.strip()}" for k, t in r.items() if k and k.startswith("tag_") and t and t.strip()]
            out.append({
                "kind": "case", "id": f"ST-{n:05d}", "title": title, "problem": body, "solution": answer,
                "tags": [t for t in tags if "/" not in t[6:]],
                "severity": _PRIORITY.get((r.get("priority") or "").lower(), "P3"),
                "product": (r.get("queue") or "").strip(), "status": "approved",
            })
            if limit and len(out) >= limit:
                break
    return out


@dataclass
class LongDocumentSet:
    """Long multi-topic documents joined from reading-comprehension passages, and the questions
    whose gold is the document holding their passage (with the passage's human answer spans)."""

    docs: list[dict[str, Any]]  # {"id", "title", "body", "passages": [passage title, ...]}
    questions: list[dict[str, Any]]  # {"query", "gold", "heading", "answers": [span, ...]}
    unanswerable: list[dict[str, Any]]  # questions about held-out passages: {"query", "heading", "answers"}


def long_document_set(dev: Path = DEFAULT_DEV, target_chars: int = 2700, seed: int = 2018,
                      hold_out: int = 10) -> LongDocumentSet:
    """CMRC 2018 dev passages (~510 characters each) shuffled with a fixed seed and joined, each under
    its title as a Markdown heading, into documents of about ``target_chars`` characters. A document's
    own title says nothing of its topics ("百科选编 第12卷"), as a manual's or a policy's title says
    little of the clause a customer asks about. Every ``hold_out``-th passage is left out of the
    documents: its questions are real near misses, which the library cannot answer."""
    import random

    rows = json.loads((dev / "cmrc2018" / "cmrc2018_dev.json").read_text(encoding="utf-8"))
    rows = [r for r in rows if r.get("title") and r.get("context_text")]
    random.Random(seed).shuffle(rows)
    docs: list[dict[str, Any]] = []
    questions: list[dict[str, Any]] = []
    unanswerable: list[dict[str, Any]] = []
    group: list[dict[str, Any]] = []

    def qas(r: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for qa in r.get("qas", []):
            answers = [str(a).strip() for a in qa.get("answers", []) if str(a).strip()]
            if qa.get("query_text") and answers:
                out.append({"query": qa["query_text"].strip(), "heading": r["title"],
                            "answers": list(dict.fromkeys(answers))})
        return out

    def flush() -> None:
        n = len(docs) + 1
        did = f"LD-{n:03d}"
        body = "\n\n".join(f"## {r['title']}\n\n{r['context_text'].strip()}" for r in group)
        docs.append({"id": did, "title": f"百科选编 第{n}卷", "body": body, "passages": [r["title"] for r in group]})
        questions.extend({**q, "gold": did} for r in group for q in qas(r))
        group.clear()

    size = 0
    for n, r in enumerate(rows, 1):
        if hold_out and n % hold_out == 0:
            unanswerable.extend(qas(r))
            continue
        group.append(r)
        size += len(r["context_text"])
        if size >= target_chars:
            flush()
            size = 0
    if group:
        flush()
    return LongDocumentSet(docs, questions, unanswerable)


@dataclass
class FaqAbstentionSet:
    """An FAQ pool with some of its questions held out: queries whose every paraphrase is held out
    are real near misses the library cannot answer (the pool keeps the pairs' hard negatives)."""

    name: str
    pool: list[tuple[str, str]]  # (faq id, question) kept in the library
    answerable: list[tuple[str, str]]  # (query, gold faq id)
    unanswerable: list[tuple[str, str]]  # (query, id of the held-out faq it paraphrases)


def faq_abstention_set(name: str, dev: Path = DEFAULT_DEV, hold_out: int = 5) -> FaqAbstentionSet:
    """``faq_retrieval_set`` with every ``hold_out``-th paraphrase group left out of the pool. Groups
    are the connected components of the positive pairs, so no paraphrase of a held-out question stays
    behind to answer it."""
    ds = faq_retrieval_set(name, dev)
    text_of = dict(ds.pool)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    id_of = {q: i for i, q in ds.pool}
    for s1, s2, label in _pairs(dev, name):
        if label == "1" and s2.strip() in id_of:
            parent[find("q:" + s1.strip())] = find(id_of[s2.strip()])
    roots = sorted({find(i) for i, _ in ds.pool})
    held = {r for n, r in enumerate(roots) if hold_out and n % hold_out == hold_out - 1}
    pool = [(i, q) for i, q in ds.pool if find(i) not in held]
    answerable = [(q, g) for q, g in ds.queries if find(g) not in held]
    unanswerable = [(q, g) for q, g in ds.queries if find(g) in held]
    assert all(text_of[g] for _, g in unanswerable)
    return FaqAbstentionSet(name, pool, answerable, unanswerable)


def intent_utterances(name: str, dev: Path = DEFAULT_DEV) -> list[tuple[str, str]]:
    """(utterance, intent) of an intent-labelled set: ``cic`` (CIC dev, Chinese e-commerce) or
    ``banking77`` (BANKING77 train, English); empty utterances left out."""
    if name == "cic":
        rows = [json.loads(x) for x in (dev / "cic_intent" / "dev.json").read_text(encoding="utf-8").splitlines()
                if x.strip()]
        return [(r["sentence"].strip(), str(r["label_des"])) for r in rows if r["sentence"].strip()]
    if name == "banking77":
        with (dev / "banking77" / "train.csv").open(encoding="utf-8", newline="") as f:
            return [(r["text"].strip(), r["category"].strip()) for r in csv.DictReader(f) if r["text"].strip()]
    raise ValueError(f"unknown set {name!r}; use cic or banking77")


def intent_abstention_set(name: str, dev: Path = DEFAULT_DEV, faqs: int = 3, hold_out: int = 5,
                          seed: int = 0) -> FaqAbstentionSet:
    """An FAQ library from real utterances labelled with intents (CIC e-commerce, BANKING77): ``faqs``
    utterances of each intent are its FAQ questions, the others ask it. Every ``hold_out``-th intent
    is left out of the library: its utterances are near misses of the same shop or bank, and unlike
    paraphrase pairs every utterance has exactly one label, so none of them is secretly answered."""
    import random

    pairs = intent_utterances(name, dev)
    by_intent: dict[str, list[str]] = {}
    for text, intent in pairs:
        by_intent.setdefault(intent, []).append(text)
    rng = random.Random(seed)
    pool: list[tuple[str, str]] = []
    answerable: list[tuple[str, str]] = []
    unanswerable: list[tuple[str, str]] = []
    for n, intent in enumerate(sorted(by_intent)):
        texts = list(dict.fromkeys(by_intent[intent]))
        rng.shuffle(texts)
        if hold_out and n % hold_out == hold_out - 1:
            unanswerable.extend((t, intent) for t in texts)
            continue
        if len(texts) <= faqs:
            continue  # an intent with no utterance left to ask it
        pool.extend((f"{name.upper()}-{len(pool) + 1:05d}", t) for t in texts[:faqs])
        answerable.extend((t, intent) for t in texts[faqs:])
    rng.shuffle(answerable)
    rng.shuffle(unanswerable)
    return FaqAbstentionSet(name, pool, answerable, unanswerable)

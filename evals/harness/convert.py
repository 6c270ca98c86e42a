"""Evaluation sets from the public data in ``../shared/data/dev/`` (and the sample library), written
as files the harness reads, so anyone can measure on real data:

``afqmc``, ``bq``, ``lcqmc``   paraphrase pairs → an FAQ retrieval set (``evals.devdata.faq_retrieval_set``):
                               ``OUT/library/faq.jsonl`` (the pool of FAQ questions) and
                               ``OUT/questions.jsonl`` (each query with the id of its FAQ)
``cic``, ``banking77``         intents → a tag set: a seeded split, ``OUT/library/`` (the training
                               utterances as FAQ records tagged with their intent, and a taxonomy of
                               every intent) and ``OUT/tags.jsonl`` (the held-out utterances)
``jddc``                       the 300 JD.com conversations → a draft set ``OUT/drafts.jsonl``
``sample-tickets``             the sample library's 12 tickets → a draft set whose reference is the
                               case each ticket is about (``evals.draft_eval.TICKET_CASE``)

Each prints the ``casepilot eval run`` command that evaluates it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from assistant.errors import InputError
from assistant.types import CASE_SECTIONS
from evals.devdata import DEFAULT_DEV, faq_records, faq_retrieval_set

ROOT = Path(__file__).resolve().parent.parent.parent
SETS = ("afqmc", "bq", "lcqmc", "cic", "banking77", "jddc", "sample-tickets")


def _write(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    return n


def faq_set(name: str, dev: Path, out: Path, limit: int = 0) -> dict[str, Any]:
    ds = faq_retrieval_set(name, dev)
    queries = ds.queries[:limit] if limit else ds.queries
    pool = _write(out / "library" / "faq.jsonl", faq_records(ds))
    n = _write(out / "questions.jsonl", ({"id": f"{name.upper()}-Q{i:05d}", "question": q, "relevant_ids": [gold],
                                          "category": name} for i, (q, gold) in enumerate(queries, 1)))
    return {"set": name, "kind": "answer", "items": n, "library_records": pool,
            "dataset": str(out / "questions.jsonl"), "library": str(out / "library")}


def tag_set(name: str, dev: Path, out: Path, limit: int = 0, test_share: float = 0.2, seed: int = 0) -> dict[str, Any]:
    from evals.tag_eval import banking_set, cic_set

    ds = cic_set(dev, 0) if name == "cic" else banking_set(dev, 2000)
    order = list(range(len(ds.items)))
    random.Random(seed).shuffle(order)
    n_test = max(1, int(len(order) * test_share))
    test, train = order[:n_test], order[n_test:]
    if limit:
        test = test[:limit]
    lib = out / "library"
    lib.mkdir(parents=True, exist_ok=True)
    (lib / "taxonomy.yaml").write_text(yaml.safe_dump(
        {"dimensions": {ds.dimension: {"values": {v: {} for v in ds.labels}}}}, allow_unicode=True), encoding="utf-8")
    records = _write(lib / "records.jsonl", ({"kind": "article", "faq": True, "id": f"U-{i:05d}",
                                              "title": ds.items[i][0], "body": ds.items[i][0],
                                              "tags": [f"{ds.dimension}/{ds.items[i][1]}"]} for i in train))
    n = _write(out / "tags.jsonl", ({"id": f"{name.upper()}-{i:05d}", "text": ds.items[i][0],
                                     "tags": [f"{ds.dimension}/{ds.items[i][1]}"], "category": name} for i in test))
    return {"set": name, "kind": "tag", "items": n, "library_records": records, "dataset": str(out / "tags.jsonl"),
            "library": str(lib), "note": ds.note}


def jddc_set(dev: Path, out: Path, limit: int = 0) -> dict[str, Any]:
    from evals.draft_eval import jddc_tickets

    tickets = jddc_tickets(dev)
    if limit:
        tickets = tickets[:limit]
    n = _write(out / "drafts.jsonl", ({"id": t["id"], "ticket": t, "category": "jddc"} for t in tickets))
    return {"set": "jddc", "kind": "draft", "items": n, "dataset": str(out / "drafts.jsonl")}


def sample_tickets_set(out: Path) -> dict[str, Any]:
    from evals.draft_eval import TICKET_CASE

    lib = ROOT / "ingestion" / "sample_library"
    tickets = [json.loads(x) for x in (lib / "tickets.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    cases = {c["id"]: c for c in (json.loads(x) for x in (lib / "cases.jsonl").read_text(encoding="utf-8").splitlines()
                                  if x.strip())}
    rows = []
    for t in tickets:
        ref = cases.get(TICKET_CASE.get(t["id"], ""))
        row: dict[str, Any] = {"id": t["id"], "ticket": t, "category": "sample"}
        if ref:
            row["reference"] = {k: ref.get(k, "") for k in ("title", *CASE_SECTIONS)}
        rows.append(row)
    path = out if out.suffix == ".jsonl" else out / "sample_tickets.jsonl"
    n = _write(path, rows)
    return {"set": "sample-tickets", "kind": "draft", "items": n, "dataset": str(path)}


def convert(name: str, out: Path, dev: Path = DEFAULT_DEV, limit: int = 0) -> dict[str, Any]:
    if name not in SETS:
        raise InputError(f"unknown set {name!r}; use one of {', '.join(SETS)}")
    if name == "sample-tickets":
        res = sample_tickets_set(out)
    else:
        if not dev.is_dir():
            raise InputError(f"{dev}: no development data there (give --dev-data DIR)")
        if name in ("afqmc", "bq", "lcqmc"):
            res = faq_set(name, dev, out, limit)
        elif name in ("cic", "banking77"):
            res = tag_set(name, dev, out, limit)
        else:
            res = jddc_set(dev, out, limit)
    res["command"] = f"casepilot eval run --dataset {res['dataset']}" + (
        f" --library {res['library']}" if res.get("library") else "")
    return res

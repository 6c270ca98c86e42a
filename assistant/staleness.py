"""Which approved cases are due for re-review, and why. A case is stale when:

* its product has a newer current version than the case was written for (products compared after
  ``product_key``: 雲賬通, 云账通 and ``云账通 `` are one product);
* nobody has reviewed it for ``stale_after_days``;
* a newer draft of the same problem waits for review;
* closed tickets stored after its last approval are about its problem but were solved differently;
* answers citing it were rated helpful much less often lately than before.

Every threshold is a constant here with its reason in one line; docs/usage.md repeats them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from .drafting import draft_extractive
from .library import Library
from .text import content_words, product_key, version_key
from .types import PASSAGE_SPACE, QUESTION_SPACE

RECENT_DAYS = 30  # ratings of the last month are "recent": long enough to gather a few, short enough to react
MIN_RATINGS = 3  # at least three ratings on each side, so that one unhappy agent is not a trend
RATING_DROP = 0.3  # recent helpful share at least 30 points below the earlier share (2 of 3 → 1 of 3 is a fall)
RECENT_BELOW = 0.5  # and most recent ratings not helpful: 3 of 3 → 2 of 3 is noise, not a fall
DIFFERENT_SOLUTION = 0.15  # under 15% of a ticket's solution words in the case's: sample pairs that agree share 20-66%
MAX_FEEDBACK = 50_000  # the newest ratings read per check; older ones say little about a fall
MAX_NEW_TICKETS = 500  # the newest tickets drafted and embedded per check: bounds its cost on a busy helpdesk


def stale_cases(lib: Library, waiting: Sequence[dict[str, Any]], *, now: datetime) -> list[dict[str, Any]]:
    """Approved cases due for re-review, each with its reasons (``waiting``: the review queue)."""
    versions: dict[str, str] = {}
    for p, v in lib.store.product_versions(lib.tenant).items():  # the newest version among spellings
        k = product_key(p)
        if k not in versions or version_key(v) > version_key(versions[k]):
            versions[k] = v
    limit = timedelta(days=lib.settings.stale_after_days)
    cases = [r for r in lib.store.records(lib.tenant, kind="case") if r.status == "approved"]
    newer = _solved_differently(lib, cases)
    falling = _falling_ratings(lib, now)
    out = []
    for r in cases:
        d = r.data
        reasons = []
        current = versions.get(product_key(d.get("product") or ""))
        if current and version_key(current) > version_key(d.get("product_version") or ""):
            reasons.append(f"{d.get('product')} is now {current}; the case was written for "
                           f"{d.get('product_version') or 'an unknown version'}")
        reviewed = parse_date(d.get("updated_at") or "") or parse_date(r.updated_at)
        if reviewed and now - reviewed > limit:
            reasons.append(f"not reviewed since {reviewed.date().isoformat()}")
        dupes = [q["id"] for q in waiting if any(x["id"] == r.id for x in q["duplicates"])]
        if dupes:
            reasons.append(f"a newer draft solves the same problem: {', '.join(dupes)}")
        reasons += newer.get(r.id, []) + falling.get(r.id, [])
        if reasons:
            out.append({"id": r.id, "title": r.title, "reasons": reasons})
    return out


def _approved_seq(lib: Library, cases: Sequence[Any]) -> tuple[dict[str, int], dict[str, int]]:
    """The audit log's order: the entry of each case's last approval or merge (its last write when it
    was imported approved), and each record's first entry (when it was stored). Sequence numbers, not
    timestamps, so that a ticket stored in the same second as an approval is still before or after it."""
    approved: dict[str, int] = {}
    last: dict[str, int] = {}
    first: dict[str, int] = {}
    for e in lib.store.audit(lib.tenant):  # in order
        first.setdefault(e.record_id, e.seq)
        last[e.record_id] = e.seq
        if e.action in ("approve", "merge"):
            approved[e.record_id] = e.seq
    return {r.id: approved.get(r.id, last.get(r.id, 0)) for r in cases}, first


def _solved_differently(lib: Library, cases: Sequence[Any]) -> dict[str, list[str]]:
    """Closed tickets stored after a case's last approval whose problem is close to the case's (the
    drafting duplicate check's space and threshold, and no other case closer) but whose solution
    shares little with the case's."""
    approved, stored_at = _approved_seq(lib, cases)
    oldest = min(approved.values(), default=None)
    newer = sorted(((stored_at[t.id], t) for t in lib.store.records(lib.tenant, kind="ticket")
                    if oldest is not None and t.id in stored_at and stored_at[t.id] > oldest), key=lambda x: x[0])
    tickets = []
    for seq, t in newer[-MAX_NEW_TICKETS:]:
        d = draft_extractive(t.data)
        if not d.skipped and d.section("solution"):
            tickets.append((t.id, seq, f"{d.title} {d.section('problem')[:300]}", d.section("solution"),
                            (t.created_at or "")[:10]))
    space = PASSAGE_SPACE if PASSAGE_SPACE in lib.embedders else QUESTION_SPACE
    emb = lib.embedders.get(space)
    if not tickets or emb is None:
        return {}
    embed = emb.embed_passages if space == PASSAGE_SPACE else emb.embed_questions
    tv = np.asarray(embed([x[2] for x in tickets]))
    cv = np.asarray(embed([f"{r.title} {str(r.data.get('problem') or '')[:300]}" for r in cases]))
    sims = cv @ tv.T
    nearest = sims.argmax(axis=0)  # a ticket is about the case closest to it, not every case above the threshold
    out: dict[str, list[str]] = defaultdict(list)
    for i, r in enumerate(cases):
        sources = set(r.data.get("source_tickets") or [])
        words = set(content_words(str(r.data.get("solution") or "")))
        for j, (tid, seq, _, solution, day) in enumerate(tickets):
            if (tid in sources or seq <= approved[r.id] or nearest[j] != i
                    or sims[i, j] < lib.settings.duplicate_threshold):
                continue
            theirs = set(content_words(solution))
            if theirs and len(theirs & words) / len(theirs) < DIFFERENT_SOLUTION:
                first = solution.splitlines()[0][:60]
                out[r.id].append(f"newer ticket {tid} ({day}) about the same problem was solved differently: {first}")
    return out


def _falling_ratings(lib: Library, now: datetime) -> dict[str, list[str]]:
    """Cases whose citing answers were rated helpful much less often in the last ``RECENT_DAYS``."""
    since = now - timedelta(days=RECENT_DAYS)
    seen: set[str] = set()
    counts: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0], [0, 0]])  # [earlier, recent] × [n, helpful]
    for f in lib.store.feedback(lib.tenant, limit=MAX_FEEDBACK):  # newest first: an answer's current rating
        if f.answer_id in seen:
            continue
        seen.add(f.answer_id)
        at = parse_date(f.created_at)
        if at is None or at > now:
            continue
        side = 1 if at >= since else 0
        for cid in {c.get("id") for c in f.citations if c.get("id")}:
            counts[str(cid)][side][0] += 1
            counts[str(cid)][side][1] += int(f.helpful)
    out: dict[str, list[str]] = {}
    for cid, ((n0, h0), (n1, h1)) in counts.items():
        if n0 >= MIN_RATINGS and n1 >= MIN_RATINGS and h1 / n1 <= h0 / n0 - RATING_DROP and h1 / n1 < RECENT_BELOW:
            out[cid] = [f"rated helpful {h1} of {n1} times in the last {RECENT_DAYS} days, "
                        f"against {h0} of {n0} before"]
    return out


def parse_date(s: str) -> datetime | None:
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return None
    return d if d.tzinfo else d.replace(tzinfo=UTC)

"""From a gap group to the article that was missing: one action drafts it for review from what agents
actually replied in the group's tickets (``assistant.gap_replies``), every sentence citing the ticket
message it came from (``TICKET#MESSAGE``).

The draft is an FAQ-shaped case: its title is the group's most central wording, its problem the
wordings agents asked, its diagnosis and solution the replies' findings and steps. It is a case, not
an FAQ article, because the review queue (approve, reject, merge into an existing case, the
duplicate check) is the case's workflow: articles have no ``in_review`` or ``rejected`` status.

Extractive by default: the replies' sentences (drafting's filler rules applied; the agents' questions
and requests for details left out), a sentence several tickets say kept once with all its sources and
ranked first; findings about one customer's case go to the diagnosis, the rest is the answer. With
``CASEPILOT_LLM`` naming a model, drafting's model path (``prompts/draft.yaml``, one retry, sources
checked) reads the question and the replies as one conversation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .drafting import Draft, DraftSentence, draft_with_model
from .drafting.cues import REQUEST, asks, has, is_finding, is_instruction, split_message
from .engines import chat_model
from .errors import Conflict, InputError
from .gap_replies import Reply, replies_of
from .gaps import DEFAULT_THRESHOLD, GapCluster, GapReport, find_cluster, gap_report
from .library import Library
from .records import RecordError, parse_record
from .review import Review, WriterFactory
from .tagging import TagSuggester
from .text import content_words, normalise

MAX_SOLUTION = 6
MAX_DIAGNOSIS = 3
SAME_SENTENCE = 0.7  # share of a sentence's content words another already holds: the same step again


def question_vectors(lib: Library) -> Callable[[Sequence[str]], np.ndarray]:
    """The gap report's embedder: ``lib``'s question vectors of the normalised wordings, from the query
    vector cache where the questions were embedded when they were asked (docs/gaps.md has the timing)."""
    return lambda texts: lib.query_vectors.embed_many(lib.embedder, [normalise(t) for t in texts])


def library_report(lib: Library, *, days: int = 30, threshold: float = DEFAULT_THRESHOLD) -> GapReport:
    """``lib``'s gap groups of the last ``days`` days (``casepilot gaps --group``, ``GET /v1/gaps/groups``)."""
    return gap_report(lib.store, lib.tenant, question_vectors(lib), days=days, threshold=threshold)


def group_replies(lib: Library, cluster: GapCluster) -> list[Reply]:
    return replies_of(lib.store, lib.tenant, cluster.tickets, cluster.examples)


def group_extra(lib: Library) -> Callable[[GapCluster], dict[str, Any]]:
    """What a report's group shows beyond the clustering: the agents' replies in its tickets, and the
    draft made of it (``{"case_id", "status"}``, or None)."""
    drafts = {d.ticket_id: d for d in lib.store.drafts(lib.tenant) if d.ticket_id.startswith("gap:")}

    def extra(g: GapCluster) -> dict[str, Any]:
        made = drafts.get(draft_id(g.key)[0])
        return {"replies": [asdict(r) for r in group_replies(lib, g)],
                "draft": {"case_id": made.case_id, "status": made.status} if made else None}

    return extra


def draft_id(key: str) -> tuple[str, str]:
    """The drafts table's ticket column and the case id of the draft of group ``key``."""
    return f"gap:{key}", f"GD-{key}"


@dataclass
class _Said:
    section: str
    text: str
    words: set[str]
    sources: list[str]
    tickets: set[str]


def draft_extractive_faq(cluster: GapCluster, replies: Sequence[Reply], key: str) -> Draft:
    """The group's question and the replies' steps and findings, each with the messages that said it."""
    said: list[_Said] = []
    for r in replies:
        for u, _ in split_message(r.text, agent=True):
            if asks(u) or u.endswith(("？", "?")) or has(REQUEST, u):
                continue  # the agent asking the customer something: not part of the answer
            # what an agent tells a customer is the answer (a step, or a rule: "单独的锂电池不能走国际件"),
            # except what the agent found out about this customer's case
            section = "diagnosis" if is_finding(u) and not is_instruction(u) else "solution"
            words = set(content_words(u))
            same = next((s for s in said if words and len(words & s.words) >= SAME_SENTENCE * len(words)), None)
            if same is not None:
                if r.ref not in same.sources:
                    same.sources.append(r.ref)
                same.tickets.add(r.ticket_id)
                continue
            said.append(_Said(section, u, words, [r.ref], {r.ticket_id}))
    ranked = sorted(said, key=lambda s: -len(s.tickets))  # stable: the conversations' order among equals
    keep = {id(s) for s in [s for s in ranked if s.section == "solution"][:MAX_SOLUTION]
            + [s for s in ranked if s.section == "diagnosis"][:MAX_DIAGNOSIS]}
    asked = [DraftSentence("problem", q, [f"answer:{a}" for a in cluster.answer_ids[:3]])
             for q in cluster.examples]
    body = [DraftSentence(s.section, s.text, s.sources) for s in said if id(s) in keep]
    return Draft(ticket_id=draft_id(key)[0], title=cluster.question[:80], sentences=asked + body)


def draft_faq_with_model(cluster: GapCluster, replies: Sequence[Reply], key: str, chat: Any, name: str) -> Draft:
    """Drafting's model path over one conversation: the wordings asked, then every reply (ids
    ``TICKET#MESSAGE``, so that the sources the model gives are the replies' own)."""
    conversation = {"id": draft_id(key)[0], "subject": cluster.question, "status": "closed",
                    "messages": [*({"id": f"Q{i}", "role": "customer", "text": q}
                                   for i, q in enumerate(cluster.examples, 1)),
                                 *({"id": r.ref, "role": "agent", "text": r.text} for r in replies)]}
    return draft_with_model(conversation, chat, name)


def draft_group(lib: Library, key: str, *, writer: WriterFactory, actor: str, days: int = 30) -> tuple[Draft, str]:
    """Draft the gap group ``key`` of the last ``days`` days into the review queue: ``draft_cluster``
    of ``find_cluster`` (``NotFound`` for an unknown key)."""
    return draft_cluster(lib, find_cluster(library_report(lib, days=days), key), writer=writer, actor=actor)


def draft_cluster(lib: Library, cluster: GapCluster, *, writer: WriterFactory, actor: str) -> tuple[Draft, str]:
    """Draft ``cluster`` into the review queue; returns the draft and its case id. A group whose
    tickets hold no agent reply, or whose draft a reviewer already decided, is refused (``Conflict``)
    and nothing is written. (The report that found ``cluster`` reads no index: a caller may make it
    before taking the tenant's write lock, and call this under it.)"""
    key = cluster.key
    replies = group_replies(lib, cluster)
    if not replies:
        raise Conflict(f"gap group {key!r} ({cluster.question}) has no agents' replies to draft from: "
                       + (f"none of its {len(cluster.tickets)} tickets is stored with an agent's reply"
                          if cluster.tickets else "its questions were not asked about a ticket"))
    ticket_col, cid = draft_id(cluster.key)
    earlier = lib.store.drafts(lib.tenant, ticket_id=ticket_col)
    if earlier and earlier[0].status not in ("skipped", "in_review"):
        raise Conflict(f"gap group {cluster.key!r} was drafted before and the draft was {earlier[0].status}")
    chat = chat_model(lib.settings, temperature=0.0)
    d = (draft_faq_with_model(cluster, replies, cluster.key, chat, lib.settings.llm.strip()) if chat is not None
         else draft_extractive_faq(cluster, replies, cluster.key))
    if d.skipped or not any(s.section == "solution" for s in d.sentences):
        raise Conflict(f"gap group {cluster.key!r}: the replies hold no step to draft from"
                       + (f" ({d.skipped})" if d.skipped else ""))
    d.title = cluster.question[:80]
    used = {ref.split("#", 1)[0] for s in d.sentences for ref in s.sources if "#" in ref}
    tickets = [t for t in cluster.tickets if t in used]
    products = Counter(str(r.data.get("product") or "") for r in lib.store.get_many(lib.tenant, tickets).values())
    d.product = next((p for p, _ in products.most_common() if p), "")
    s = TagSuggester(lib).suggest(f"{d.title} {d.section('problem')}")
    d.tags = [] if s.abstained else list(s.tags)
    review = Review(lib, writer=writer, actor=actor)
    d.duplicates = review.duplicates(d.title, d.section("problem"))
    try:
        case = parse_record({**d.case(cid), "source_tickets": tickets})
    except RecordError as e:
        raise InputError(f"gap group {cluster.key}: the draft is not a valid case: {e}") from None
    writer(lib, actor=actor).ingest_records([case])
    payload = {**d.to_dict(), "gap": {"key": cluster.key, "question": cluster.question, "count": cluster.count,
                                      "examples": list(cluster.examples), "answer_ids": list(cluster.answer_ids),
                                      "tickets": list(cluster.tickets)}}
    lib.store.put_draft(lib.tenant, ticket_col, status="in_review", case_id=cid, payload=payload)
    return d, cid

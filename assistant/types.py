"""Plain domain types: what the library stores and what search returns.

They carry no behaviour beyond (de)serialisation; validation of untrusted input lives in
``assistant.records``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["case", "article", "ticket"]
# the kinds that are indexed and searched (tickets are stored for drafting only)
SEARCHABLE_KINDS = ("case", "article")
CASE_SECTIONS = ("problem", "diagnosis", "solution", "outcome")
CASE_STATUSES = ("draft", "in_review", "approved", "rejected", "archived")
ARTICLE_STATUSES = ("draft", "published", "archived")
SEVERITIES = ("P1", "P2", "P3", "P4")
# a record with one of these statuses is taken out of both indexes
UNINDEXED_STATUSES = ("archived",)
# vector spaces: short question-like texts (titles, FAQ questions), and longer passages
QUESTION_SPACE = "question"
PASSAGE_SPACE = "passage"
# the statuses retrieval serves by default
SERVED_STATUSES = ("approved", "published")


@dataclass
class Case:
    id: str
    title: str
    problem: str = ""
    diagnosis: str = ""
    solution: str = ""
    outcome: str = ""
    tags: list[str] = field(default_factory=list)
    product: str = ""
    product_version: str = ""
    severity: str = "P3"
    source_tickets: list[str] = field(default_factory=list)
    status: str = "approved"
    created_at: str = ""
    updated_at: str = ""
    reviewed_by: str = ""
    kind: Literal["case"] = "case"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Article:
    """A knowledge article; an FAQ entry is an article whose title is the question."""

    id: str
    title: str
    body: str = ""
    tags: list[str] = field(default_factory=list)
    product: str = ""
    updated_at: str = ""
    status: str = "published"
    faq: bool = False
    kind: Literal["article"] = "article"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Message:
    id: str
    role: Literal["customer", "agent", "system"]
    text: str
    author: str = ""
    at: str = ""
    # an internal note (Zendesk's private comment, Freshdesk's private note): kept for reviewers,
    # never drafted into a case nor shown as ticket context to an answer
    internal: bool = False


@dataclass
class Ticket:
    id: str
    subject: str
    messages: list[Message] = field(default_factory=list)
    channel: str = ""
    product: str = ""
    priority: str = ""
    status: str = "closed"
    csat: int | None = None
    kind: Literal["ticket"] = "ticket"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for m in d["messages"]:  # public messages serialise as before, so stored tickets keep their hashes
            if not m["internal"]:
                del m["internal"]
        return d

    @property
    def public_messages(self) -> list[Message]:
        return [m for m in self.messages if not m.internal]


Record = Case | Article | Ticket


@dataclass(frozen=True)
class Chunk:
    """One indexed piece of a record. ``text`` is for display (original spelling);
    ``index_text`` is normalised (simplified, half-width) and is what gets tokenised and embedded.
    ``space`` names the vector space it is embedded into (``question``: short question-like texts;
    ``passage``: longer texts; empty: none) and ``keyword`` whether it is in the keyword index."""

    id: str
    record_id: str
    kind: str
    section: str
    ordinal: int
    title: str
    text: str
    index_text: str
    space: str
    status: str
    product: str = ""
    tags: tuple[str, ...] = ()
    keyword: bool = True
    heading: str = ""  # an article chunk's heading path ("安装指南 > 无线网络 > 5GHz"); "" above the first

    def metadata(self) -> dict[str, Any]:
        """Metadata stored with the chunk in every index (what filters act on)."""
        meta: dict[str, Any] = {
            "record_id": self.record_id,
            "kind": self.kind,
            "section": self.section,
            "status": self.status,
            "product": self.product,
        }
        if self.tags:
            meta["tags"] = list(self.tags)
        return meta


@dataclass
class SearchHit:
    """One record found by search: chunks of the same record are merged, the best section named."""

    id: str
    kind: str
    title: str
    score: float
    section: str
    snippet: str
    heading: str = ""  # where in an article the hit is ("安装指南 > 无线网络 > 5GHz"); "" for the rest
    explain: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "explain"}
        if explain:
            d["explain"] = self.explain
        return d

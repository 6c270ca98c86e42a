"""The relational store (source of truth) and its schema migrations. ``Store`` composes one mixin per
concern; the Protocols name the narrow parts a consumer needs."""

from .answers import AnswerStore, CitationStats, ConversationLog, Feedback, LoggedAnswer, RatedAnswer, Turn
from .chunks import ChunkReader, IndexSource, WriteResult
from .curated import CuratedAnswer, CuratedLog, CuratedVersion
from .drafts import DraftStore, StoredDraft
from .engine import now_iso, upgrade_schema
from .ratings import Open, Rating, RatingSource
from .records import AuditEntry, RecordReader, RecordVersion, RecordWrite, StoredRecord
from .store import Store
from .taxonomies import StoredTaxonomy

__all__ = ["AnswerStore", "AuditEntry", "ChunkReader", "CitationStats", "ConversationLog", "CuratedAnswer",
           "CuratedLog", "CuratedVersion", "DraftStore", "Feedback", "IndexSource", "LoggedAnswer", "Open",
           "RatedAnswer", "Rating", "RatingSource", "RecordReader", "RecordVersion", "RecordWrite", "Store",
           "StoredDraft", "StoredRecord", "StoredTaxonomy", "Turn", "WriteResult", "now_iso", "upgrade_schema"]

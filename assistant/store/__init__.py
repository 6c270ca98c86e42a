"""The relational store (source of truth) and its schema migrations. ``Store`` composes one mixin per
concern; the Protocols name the narrow parts a consumer needs."""

from .answers import AnswerStore
from .chunks import ChunkReader, IndexSource, WriteResult
from .drafts import DraftStore
from .engine import now_iso, upgrade_schema
from .records import RecordReader, RecordWrite, StoredRecord
from .store import Store
from .taxonomies import StoredTaxonomy

__all__ = ["AnswerStore", "ChunkReader", "DraftStore", "IndexSource", "RecordReader", "RecordWrite", "Store",
           "StoredRecord", "StoredTaxonomy", "WriteResult", "now_iso", "upgrade_schema"]

"""The relational store (source of truth) and its schema migrations."""

from .store import RecordWrite, Store, StoredRecord, WriteResult, now_iso, upgrade_schema
from .taxonomies import StoredTaxonomy

__all__ = ["RecordWrite", "Store", "StoredRecord", "StoredTaxonomy", "WriteResult", "now_iso", "upgrade_schema"]

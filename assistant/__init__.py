"""casepilot's core library: types, settings, errors, backends, records and their validation, chunking,
the store, retrieval, answering, the review workflow, a record's history and curated answers.

What users call is re-exported here; ``tests/test_public_api.py`` pins the list.
"""

from .answering import Answer, Assistant, Citation
from .curated import CuratedAnswers
from .embeddings import Embedder, HashEmbedder, make_embedder, register_embedder
from .errors import BackendError, CasepilotError, ConfigError, InputError, NotFound, PermissionDenied
from .history import History
from .index.filters import Filters
from .library import Library
from .records import RecordError, parse_record
from .review import Review
from .settings import Settings, get_settings
from .taxonomy import Taxonomy
from .types import Article, Case, Chunk, Message, SearchHit, Ticket

__all__ = [
    "Answer",
    "Article",
    "Assistant",
    "BackendError",
    "Case",
    "CasepilotError",
    "Chunk",
    "Citation",
    "ConfigError",
    "CuratedAnswers",
    "Embedder",
    "Filters",
    "HashEmbedder",
    "History",
    "InputError",
    "Library",
    "Message",
    "NotFound",
    "PermissionDenied",
    "RecordError",
    "Review",
    "SearchHit",
    "Settings",
    "Taxonomy",
    "Ticket",
    "get_settings",
    "make_embedder",
    "parse_record",
    "register_embedder",
]

"""casepilot's core library: types, settings, errors, backends, store, retrieval and answering.

What users call is re-exported here; ``tests/test_public_api.py`` pins the list.
"""

from .answering import Answer, Assistant, Citation
from .embeddings import Embedder, HashEmbedder, make_embedder, register_embedder
from .errors import BackendError, CasepilotError, ConfigError, InputError, NotFound, PermissionDenied
from .index.filters import Filters
from .library import Library
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
    "Embedder",
    "Filters",
    "HashEmbedder",
    "InputError",
    "Library",
    "Message",
    "NotFound",
    "PermissionDenied",
    "SearchHit",
    "Settings",
    "Taxonomy",
    "Ticket",
    "get_settings",
    "make_embedder",
    "register_embedder",
]

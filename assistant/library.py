"""One tenant's case library: the store, both indexes and the retriever, opened from settings.

This is where backends are wired together; everything else receives them ready-made.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from .embeddings import Embedder, make_embedder
from .index.filters import Filters
from .index.keywords import BM25Index
from .index.sync import Indexes
from .index.vectors import ChromaVectorStore, chroma_client, collection_name
from .retrieval import DenseRetriever, HybridRetriever, KeywordRetriever, Retriever
from .settings import Settings
from .store import Store
from .taxonomy import Taxonomy
from .types import SearchHit


class Library:
    def __init__(self, settings: Settings, tenant: str | None = None, *, embedder: Embedder | None = None,
                 store: Store | None = None) -> None:
        self.settings = settings
        self.tenant = tenant or settings.tenant
        settings.home.mkdir(parents=True, exist_ok=True)
        self.store = store or Store(settings.db_url)
        self._embedder = embedder

    @cached_property
    def embedder(self) -> Embedder:
        return self._embedder or make_embedder(self.settings.embedder)

    @cached_property
    def chroma(self) -> Any:
        return chroma_client(self.settings.chroma_dir, self.settings.chroma_url)

    @cached_property
    def vectors(self) -> ChromaVectorStore:
        return ChromaVectorStore(self.chroma, self.tenant, self.embedder.model_id)

    @cached_property
    def keywords(self) -> BM25Index:
        return BM25Index(self.settings.keyword_dir / collection_name(self.tenant))

    @cached_property
    def indexes(self) -> Indexes:
        return Indexes(self.store, self.tenant, self.vectors, self.keywords, self.embedder,
                       batch_size=self.settings.embed_batch_size)

    def reset_vectors(self) -> None:
        """Drop the tenant's vector collection and start an empty one with the configured model."""
        self.__dict__["vectors"] = ChromaVectorStore.recreate(self.chroma, self.tenant, self.embedder.model_id)
        self.__dict__.pop("indexes", None)
        self.__dict__.pop("retriever", None)

    @cached_property
    def taxonomy(self) -> Taxonomy | None:
        """The library's taxonomy, or None when none was imported."""
        path = self.settings.taxonomy_path
        return Taxonomy.load(path) if path.exists() else None

    @cached_property
    def retriever(self) -> Retriever:
        groups = self.taxonomy.synonym_groups() if self.taxonomy else []
        hybrid = HybridRetriever([DenseRetriever(self.vectors, self.embedder), KeywordRetriever(self.keywords, groups)],
                                 fusion=self.settings.fusion, weights=self.settings.fusion_weights,
                                 rrf_k=self.settings.rrf_k, code_boost=self.settings.code_boost)
        return Retriever(self.store, self.tenant, hybrid)

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> list[SearchHit]:
        self.keywords.refresh()
        self.indexes.ensure_synced()
        return self.retriever.retrieve(query, k, filters)

    def close(self) -> None:
        self.store.close()

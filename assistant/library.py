"""One tenant's case library: the store, the vector spaces, the keyword index and the retriever,
opened from settings.

This is where backends are wired together; everything else receives them ready-made.
"""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .embeddings import Embedder, make_embedder
from .errors import InputError
from .index.filters import Filters
from .index.keywords import BM25Index
from .index.sync import Indexes, VectorSpace
from .index.vectors import ChromaVectorStore, chroma_client, collection_name
from .logistic import LogisticModel, for_embedders, read_models
from .promises import Policy, load_policy
from .query_vectors import QueryVectors
from .rating_prior import RatingPrior
from .redact import AllowList, load_allowlist
from .retrieval import RANKER_FEATURES, ChunkRetriever, DenseRetriever, HybridRetriever, KeywordRetriever, Retriever
from .settings import Settings
from .store import Store, StoredTaxonomy
from .taxonomy import Taxonomy
from .types import PASSAGE_SPACE, QUESTION_SPACE, SearchHit

log = logging.getLogger(__name__)
# the tenant that commands act in without --tenant; the home's legacy taxonomy.yaml becomes its taxonomy
DEFAULT_TENANT = "default"


@dataclass
class TaxonomyChange:
    """What storing a taxonomy did: its version, whether it differs from the one before, and the
    values it drops that the tenant's records still carry (with how many records carry each)."""

    version: int
    changed: bool
    taxonomy: Taxonomy
    dropped_in_use: dict[str, int] = field(default_factory=dict)


def _require_library(settings: Settings) -> None:
    """An ``InputError`` when the settings' home holds no library: a mistyped --home is then named, not
    taken for an empty library. With a database URL the store is elsewhere and the home holds only
    caches rebuilt from it, so any home will do."""
    if settings.database_url is not None or settings.sqlite_file.exists():
        return
    home = settings.home.resolve()
    what = "no such folder" if not home.exists() else f"it holds no {settings.sqlite_file.name}"
    raise InputError(f"no casepilot library at {home} ({what}); create one with: casepilot ingest FILE... "
                     f"--home {settings.home}, or point --home / CASEPILOT_HOME at your library")


class Library:
    """``embedder`` / ``passage_embedder`` override the settings (tests pass fakes); with only
    ``embedder`` given, it serves both spaces, unless the settings turn the passage space off
    (``passage_embedder=""``). With ``create=False`` (what a command that only reads opens) a home
    that holds no library is an ``InputError`` naming it, and nothing is created."""

    def __init__(self, settings: Settings, tenant: str | None = None, *, embedder: Embedder | None = None,
                 passage_embedder: Embedder | None = None, store: Store | None = None, create: bool = True) -> None:
        self.settings = settings
        self.tenant = tenant or settings.tenant
        if create:
            settings.home.mkdir(parents=True, exist_ok=True)
        elif store is None:
            _require_library(settings)
        self.store = store or Store(settings.db_url)
        self._embedder = embedder
        # one model for both spaces when only one is given, unless the settings want no passage space
        self._passage_embedder = passage_embedder or (embedder if settings.passage_embedder else None)
        # the taxonomy as last loaded: (stored version, taxonomy), when the version was last checked,
        # and the store's taxonomy writes then
        self._taxonomy: tuple[int, Taxonomy | None] | None = None
        self._taxonomy_checked = 0.0
        self._taxonomy_writes = -1

    @property
    def redaction_allowlist(self) -> AllowList:
        """The organisation contacts never redacted in this library (``<home>/redaction.yaml``)."""
        return load_allowlist(self.settings.home)

    @property
    def promise_policy(self) -> Policy:
        """What answers and drafts may commit to only as their sources do (``<home>/promise_policy.yaml``,
        else the packaged default; ``assistant.promises``)."""
        return load_policy(self.settings.home)

    @property
    def has_passage_space(self) -> bool:
        return bool(self._passage_embedder or self.settings.passage_embedder)

    @cached_property
    def embedders(self) -> dict[str, Embedder]:
        out = {QUESTION_SPACE: self._embedder or make_embedder(self.settings.embedder,
                                                                         self.settings.embed_cache_entries)}
        if self.has_passage_space:
            out[PASSAGE_SPACE] = self._passage_embedder or make_embedder(self.settings.passage_embedder,
                                                                                  self.settings.embed_cache_entries)
        return out

    @property
    def embedder(self) -> Embedder:
        return self.embedders[QUESTION_SPACE]

    @property
    def embedder_key(self) -> str:
        """The embedders in use, as learned models name them: "QUESTION_MODEL+PASSAGE_MODEL"."""
        passage = self.embedders.get(PASSAGE_SPACE)
        return f"{self.embedder.model_id}+{passage.model_id if passage else ''}"

    @cached_property
    def chroma(self) -> Any:
        return chroma_client(self.settings.chroma_dir, self.settings.chroma_url)

    def _vector_options(self) -> dict[str, Any]:
        # the exact copy is reloaded when the keyword index loads another process's build: both follow
        # the store's generation, and a search refreshes the keyword index first
        return {"exact_limit": self.settings.exact_search_limit, "filter_limit": self.settings.filter_copy_limit,
                "version": lambda: self.keywords.generation}

    @cached_property
    def spaces(self) -> dict[str, VectorSpace]:
        return {name: VectorSpace(name, emb, ChromaVectorStore(self.chroma, self.tenant, emb.model_id, name,
                                                               **self._vector_options()))
                for name, emb in self.embedders.items()}

    @property
    def vectors(self) -> ChromaVectorStore:
        """The question space's vector store."""
        vs = self.spaces[QUESTION_SPACE].vectors
        assert isinstance(vs, ChromaVectorStore)
        return vs

    @cached_property
    def keywords(self) -> BM25Index:
        return BM25Index(self._keyword_folder)

    @cached_property
    def indexes(self) -> Indexes:
        # the spaces open at first use: a write that touches only keyword chunks opens no model or Chroma
        return Indexes(self.store, self.tenant, lambda: self.spaces, self.keywords,
                       batch_size=self.settings.embed_batch_size)

    def indexes_in_sync(self) -> bool:
        """Whether every index reflects the store's chunks (``Indexes.in_sync``), answered without
        opening the vector spaces (which loads the embedding models) or loading the keyword index
        when they are not open yet: an import that changes nothing needs neither."""
        if "indexes" in self.__dict__:
            return self.indexes.in_sync()
        state = self.store.get_states(self.tenant, ("generation", "synced_generation"))
        gen = int(state.get("generation") or 0)
        keywords = (self.keywords.generation if "keywords" in self.__dict__
                    else BM25Index.published_generation(self._keyword_folder))
        return int(state.get("synced_generation") or 0) == gen and keywords == gen

    @property
    def _keyword_folder(self) -> Path:
        return self.settings.keyword_dir / collection_name(self.tenant)

    def reset_vectors(self) -> None:
        """Drop the tenant's collections and start empty ones with the configured models."""
        self.__dict__["spaces"] = {
            name: VectorSpace(name, emb, ChromaVectorStore.recreate(self.chroma, self.tenant, emb.model_id, name,
                                                                    **self._vector_options()))
            for name, emb in self.embedders.items()
        }
        self._forget("indexes", "_retriever")

    def reopen_vectors(self) -> None:
        """Open the vector store afresh: a local Chroma client does not see vectors that another
        process added (its caller clears Chroma's client cache first, see ``api.tenants``)."""
        self._forget("chroma", "spaces", "indexes", "_retriever")
        _ = self.retriever, self.indexes

    def reload_taxonomy(self) -> None:
        """Read the taxonomy from the store at its next use; the next search uses its synonyms."""
        self._taxonomy = None

    def _forget(self, *attrs: str) -> None:
        for attr in attrs:  # cached properties, rebuilt on next use
            self.__dict__.pop(attr, None)

    @property
    def taxonomy(self) -> Taxonomy | None:
        """The tenant's taxonomy, or None when it has none (see ``versioned_taxonomy``)."""
        return self.versioned_taxonomy()[1]

    def versioned_taxonomy(self) -> tuple[int, Taxonomy | None]:
        """The tenant's taxonomy with its stored version (0: none). It is read from the store again
        when that version moved: at once after a write through this library's store, else checked at
        most every ``taxonomy_refresh_seconds`` (one indexed query), so another host's change is seen
        within that bound."""
        now = time.monotonic()
        writes = self.store.taxonomy_writes
        cached = self._taxonomy
        if (cached is not None and writes == self._taxonomy_writes
                and now - self._taxonomy_checked < self.settings.taxonomy_refresh_seconds):
            return cached
        version = self.store.taxonomy_version(self.tenant)
        if cached is None or cached[0] != version:
            cached = self._load_taxonomy()
        self._taxonomy, self._taxonomy_checked, self._taxonomy_writes = cached, now, writes
        return cached

    def _load_taxonomy(self) -> tuple[int, Taxonomy | None]:
        stored = self.stored_taxonomy()
        if stored is None:
            return 0, None
        where = f"the taxonomy of tenant {self.tenant} (version {stored.version})"
        return stored.version, Taxonomy.parse(stored.source, where)

    def stored_taxonomy(self, version: int | None = None) -> StoredTaxonomy | None:
        """The tenant's stored taxonomy (or an earlier ``version``), as imported. The default tenant of
        a home made before taxonomies were stored per tenant gets the home's taxonomy file first."""
        stored = self.store.taxonomy(self.tenant, version)
        if stored is None and version is None and self.tenant == DEFAULT_TENANT:
            stored = self._import_legacy_taxonomy()
        return stored

    def _import_legacy_taxonomy(self) -> StoredTaxonomy | None:
        """The home's ``taxonomy.yaml`` (or ``CASEPILOT_TAXONOMY``) becomes the default tenant's
        taxonomy when it has none; audited like any import. Other tenants do not get it: it was the
        default tenant's, and it is their data that must not leak."""
        path = self.settings.taxonomy_path
        if not path.exists():
            return None
        try:
            source = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"{path}: not a readable taxonomy: {e}") from e
        Taxonomy.parse(source, str(path))  # a broken file is reported, not stored
        stored, _ = self.store.put_taxonomy(self.tenant, source, actor="upgrade", origin=str(path))
        log.warning("imported %s as the taxonomy of tenant %s (taxonomies are now kept per tenant in the "
                    "database; the file is no longer read)", path, self.tenant)
        return stored

    def set_taxonomy(self, source: str, *, actor: str, origin: str = "") -> TaxonomyChange:
        """Validate ``source`` (YAML) and store it as the tenant's taxonomy (``InputError`` when it is
        not one); naming the values it drops that the tenant's records still carry."""
        new = Taxonomy.parse(source, origin or "the taxonomy")
        self.reload_taxonomy()  # compared with the stored one, not a cached one another host replaced
        try:
            old = self.taxonomy
        except InputError:  # the current one is unreadable: nothing to compare with
            old = None
        stored, changed = self.store.put_taxonomy(self.tenant, source, actor=actor, origin=origin)
        dropped: dict[str, int] = {}
        if changed and old is not None:
            used = self.store.tag_use(set(old.tags) - set(new.tags), self.tenant)
            dropped = {tag: sum(per.values()) for tag, per in used.items()}
        self.reload_taxonomy()
        return TaxonomyChange(stored.version, changed, new, dropped)

    @property
    def retriever(self) -> Retriever:
        """The hybrid retriever, built again when the taxonomy (whose synonyms it uses) changed."""
        tax = self.taxonomy
        built = self.__dict__.get("_retriever")
        if built is None or built[0] is not tax:
            built = self.__dict__["_retriever"] = (tax, self._build_retriever(tax))
        return built[1]

    def _build_retriever(self, taxonomy: Taxonomy | None) -> Retriever:
        groups = taxonomy.synonym_groups() if taxonomy else []
        parts: list[ChunkRetriever] = [DenseRetriever(s.vectors, s.embedder, s.name, self.keywords.allowed,
                                                      self.query_vectors) for s in self.spaces.values()]
        parts.append(KeywordRetriever(self.keywords, groups))
        learned = self.settings.fusion == "learned"
        hybrid = HybridRetriever(parts, fusion="sigma" if learned else self.settings.fusion,
                                 weights=self.settings.fusion_weights, rrf_k=self.settings.rrf_k,
                                 code_boost=self.settings.code_boost, ranker=self.ranker if learned else None)
        # the tenant's chunks change only with the keyword index's generation or a write through the store
        return Retriever(self.store, self.tenant, hybrid,
                         version=lambda: (self.keywords.generation, self.store.chunk_writes),
                         prior=self.rating_prior if self.settings.rating_prior and not learned else None)

    @cached_property
    def rating_prior(self) -> RatingPrior:
        """The tenant's ratings as a prior on ranking, over the question space's cached query vectors."""
        return RatingPrior(self.store, self.tenant, lambda qs: self.query_vectors.embed_many(self.embedder, qs),
                           lambda q: self.query_vectors.embed(self.embedder, q),
                           refresh_seconds=self.settings.rating_prior_refresh_seconds)

    @cached_property
    def query_vectors(self) -> QueryVectors:
        """The tenant's query vectors by normalised question, in this process and in the store."""
        return QueryVectors(self.store, self.tenant, entries=self.settings.query_cache_entries,
                            shared=self.settings.query_cache_shared)

    @cached_property
    def ranker(self) -> LogisticModel | None:
        """The learned ranker for this library's embedders, or None (sigma fusion ranks alone)."""
        try:
            found = for_embedders(read_models("ranker.json", RANKER_FEATURES)[0], self.embedder_key)
        except FileNotFoundError:
            found = None
        if found is None:
            log.warning("no learned ranker for the embedders %s: ranking with sigma fusion "
                        "(make train learns one)", self.embedder_key)
        return found

    def search(self, query: str, k: int = 5, filters: Filters | None = None) -> list[SearchHit]:
        self.keywords.refresh()
        self.indexes.ensure_synced()
        return self.retriever.retrieve(query, k, filters)

    def write_lock(self) -> AbstractContextManager[None]:
        """Held for a write of this tenant: writers in other processes, or on other hosts sharing
        PostgreSQL, wait for it."""
        lock_file = self.settings.home / "locks" / f"{collection_name(self.tenant)}.lock"
        return self.store.writer_lock(self.tenant, lock_file)

    def close(self) -> None:
        self.store.close()

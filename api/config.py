"""The HTTP API's own settings (``CASEPILOT_API_*``), next to the library's ``assistant.settings.Settings``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEPILOT_API_", extra="ignore")

    max_body_bytes: int = Field(default=1 * MIB, ge=1024, description="request bodies larger than this get 413")
    max_import_bytes: int = Field(default=32 * MIB, ge=1024, description="the limit for POST /v1/imports bodies")
    # per key, shared by the workers on one home: a token bucket of `rate_burst` requests refilled at `rate_per_minute`
    rate_per_minute: float = Field(default=300.0, ge=0, description="0: no rate limit")
    rate_burst: int = Field(default=60, ge=1)
    max_conversation_turns: int = Field(default=50, ge=0, description="earlier turns a request may carry")
    max_turn_chars: int = Field(default=8000, ge=1, description="characters of one earlier turn")
    chat_history_turns: int = Field(default=10, ge=0, description="stored turns /v1/chat resolves a question against")
    # searches and answers computed at once per process; more wait in line (bounds the work in flight;
    # throughput with 20 clients equalled one-at-a-time throughput on 2 cores either way)
    max_concurrent_reads: int = Field(default=0, ge=0, description="0: the number of CPUs")
    max_import_jobs_running: int = Field(default=2, ge=1, description="import jobs run at once per process")
    import_heartbeat_seconds: float = Field(default=10.0, gt=0, description="how often a process marks its "
                                            "import jobs alive; a job silent for 6 beats is reported interrupted")
    # fair shares (api/fairness.py): requests with a text to search over expensive_chars characters (tag
    # suggestions, questions, searches) that one tenant may have in progress at once per process; more get 429
    max_expensive_per_tenant: int = Field(default=1, ge=0, description="0: no limit")
    expensive_chars: int = Field(default=500, ge=1)
    warm_up: bool = Field(default=True, description="load the models and the default tenant's indexes before "
                                                    "serving, so that the first request does not wait for them")
    warm_sentences: int = Field(default=2000, ge=0, description="with warm_up: the most sentences of the default "
                                "tenant's records a worker embeds before serving, for the extractive engine to "
                                "quote (none when the tenant has more than half as many records); 0: none")

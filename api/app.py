"""The HTTP API: ``create_app(settings)`` builds the FastAPI application; ``casepilot serve`` runs it
under uvicorn.

    create_app(Settings(home=...))                  # one Library + Assistant per tenant, opened lazily

Routes live in ``api/routes/``, request and response bodies in ``api/schemas/`` (a module per family
of routes), keys and roles in ``api/auth.py``, errors in ``api/problems.py``, the tenant registry and its
locks in ``api/tenants.py``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from assistant.settings import Settings
from assistant.warmup import is_remote

from . import problems
from .auth import RateLimiter
from .bots.middleware import BotAwareMiddleware
from .config import ApiSettings
from .deps import AppState, reject_unknown_query
from .fairness import FairShare
from .jobs import ImportJobs
from .metrics import Metrics
from .ratebuckets import shared_buckets
from .routes import (
    answers,
    bots,
    console,
    curated,
    history,
    keys,
    openai_compat,
    ops,
    promises,
    records,
    review,
    stats,
    taxonomy,
    tickets,
)
from .tenants import Tenants

log = logging.getLogger(__name__)

DESCRIPTION = """casepilot answers support agents' questions from a tenant's case library, citing the
case behind every sentence, or says that the library does not know.

Every route under `/v1` needs `Authorization: Bearer <key>` (`casepilot keys create`). A key belongs to
one tenant and one role (`agent` < `reviewer` < `admin`) and sees only its tenant's data. Errors are
RFC 9457 problem details (`application/problem+json`) with a stable `code`."""


def create_app(settings: Settings | None = None, api_settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or Settings()
    api = api_settings or ApiSettings()
    metrics = Metrics()
    tenants = Tenants(settings, metrics, api.max_concurrent_reads)
    jobs = ImportJobs(tenants, metrics, api.max_import_jobs_running, api.import_heartbeat_seconds)
    state = AppState(settings=settings, api=api, tenants=tenants, metrics=metrics,
                     limiter=RateLimiter(api.rate_per_minute, api.rate_burst, settings.home / "ratelimits.sqlite",
                                         shared_buckets(tenants.store, api.rate_per_minute)), jobs=jobs,
                     fair=FairShare(api.max_expensive_per_tenant, api.expensive_chars))

    def warm_up() -> None:
        """Load what the first request would otherwise wait for, before this worker serves: the
        default tenant's library and indexes (Chroma's HNSW files, the keyword index), the local
        embedding models and jieba's dictionary, side by side (``assistant.warmup``; the first /v1/ask
        after a start took 3.4 s on the sample library, and a first search at 620,000 chunks 2.4 s),
        the sentences of a small library's records (``Assistant.warm``: else the first 100 questions
        wait 1.5 s), and one answer that is not logged (``Assistant.rehearse``: else a worker's first
        answer costs 0.3 s of processor time, four new questions' worth, while its other requests
        wait). A remote (``openai:``) embedder is not called: an endpoint that is down would hold the
        start for its timeouts and retries. A failure is left to the request that needs the part."""
        t0 = time.perf_counter()
        try:
            tenant = tenants.get(settings.tenant, warm_up=True)
            lib = tenant.library
            # a small library's sentences: else the first questions about each record wait for them
            remote = is_remote(lib)
            sentences = 0 if remote else tenant.assistant.warm(api.warm_sentences)
            if not remote:
                with tenant.read():
                    tenant.assistant.rehearse()
        except Exception as e:
            log.warning("warming up failed (%s); the first request loads what it needs", e)
        else:
            log.info("warmed up in %.1f s (%d sentences)", time.perf_counter() - t0, sentences)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if api.warm_up:
            await asyncio.to_thread(warm_up)
        yield
        # off the event loop: bot answers in flight get up to 5 s, an import runs to its end, and
        # requests still being answered meanwhile are not held up
        bots_runtime = getattr(app.state, "casepilot_bots", None)  # made on a bot webhook's first request
        if bots_runtime is not None:
            await asyncio.to_thread(bots_runtime.close)  # before the tenants and the store its answers use
        await asyncio.to_thread(jobs.close)
        tenants.close()

    # no /docs or /redoc: their pages load Swagger UI and ReDoc from a CDN, and nothing here may need
    # the network at run time; /openapi.json opens in any OpenAPI viewer
    app = FastAPI(title="casepilot", version="1", description=DESCRIPTION, lifespan=lifespan,
                  dependencies=[Depends(reject_unknown_query)], docs_url=None, redoc_url=None)
    app.state.casepilot = state
    problems.install(app)
    for module in (answers, promises, records, history, curated, review, tickets, keys, openai_compat, ops, console,
                   taxonomy, bots, stats):
        app.include_router(module.router)
    console.mount(app)  # the web console at /console/ (its own files; nothing from elsewhere)
    # ApiMiddleware, with the bots' webhooks taking their platforms' content types and body limit
    app.add_middleware(BotAwareMiddleware, settings=api, metrics=metrics)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            app.openapi_schema = _limits(_problem_media_types(doc), settings, api)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _limits(doc: dict[str, Any], settings: Settings, api: ApiSettings) -> dict[str, Any]:
    """The configured caps, in the document (the request models carry only hard upper bounds)."""
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("AskRequest", "ChatRequest", "CuratedRequest", "CuratedEditRequest"):
        schemas[name]["properties"]["question"]["maxLength"] = settings.max_question_chars
    schemas["AskRequest"]["properties"]["conversation"]["maxItems"] = api.max_conversation_turns
    schemas["Turn"]["properties"]["text"]["maxLength"] = api.max_turn_chars
    return doc


def _problem_media_types(doc: dict[str, Any]) -> dict[str, Any]:
    """Error responses are ``application/problem+json`` with the ProblemOut schema (FastAPI would say
    ``application/json``, and its own validation-error schema for 422)."""
    ref = {"$ref": "#/components/schemas/ProblemOut"}
    for path in doc.get("paths", {}).values():
        for op in path.values():
            for status, resp in op.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    resp["content"] = {problems.PROBLEM_JSON: {"schema": ref}}
    schemas = doc.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return doc


def app_from_env() -> FastAPI:
    """The app with settings from the environment (``casepilot serve`` hands this factory to uvicorn,
    which calls it once per worker process)."""
    return create_app(Settings(), ApiSettings())

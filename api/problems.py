"""One error shape for every failure: RFC 9457 problem details (``application/problem+json``)::

    {"type": "urn:casepilot:problem:not_found", "title": "Not found", "status": 404,
     "detail": "no case 'C-9' in this tenant", "code": "not_found"}

``code`` is stable (clients branch on it); ``detail`` is for people. The error tree of
``assistant.errors`` is translated here, at the edge, and nowhere else.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from assistant.errors import (
    BackendError,
    CasepilotError,
    ConfigError,
    Conflict,
    DuplicateDraft,
    InputError,
    NotFound,
    PermissionDenied,
    QuestionTooLong,
)

from .schemas.common import VISIBLE

log = logging.getLogger("casepilot.api")

PROBLEM_JSON = "application/problem+json"
TITLES = {
    "bad_request": "Bad request",
    "invalid_input": "Invalid input",
    "validation_error": "The request does not match the schema",
    "question_too_long": "The question is too long",
    "conversation_too_long": "The conversation is too long",
    "malformed_body": "The body cannot be read",
    "unauthenticated": "No API key",
    "invalid_key": "Unknown or malformed API key",
    "key_revoked": "The API key was revoked",
    "forbidden": "This key's role may not do this",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "not_acceptable": "Not acceptable",
    "conflict": "Conflict",
    "body_too_large": "The request body is too large",
    "unsupported_media_type": "Unsupported media type",
    "rate_limited": "Too many requests",
    "too_many_expensive_requests": "Too many long requests in progress",
    "internal_error": "Internal error",
    "config_error": "The server is misconfigured",
    "backend_error": "A backend failed",
    "backend_timeout": "A backend timed out",
    "backend_unavailable": "A backend is unavailable",
}
# the OpenAI-compatible routes also carry an OpenAI-style "error" member, which OpenAI clients show
OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")


class Problem(Exception):
    """An error response. Raise it from routes and dependencies."""

    def __init__(self, status: int, code: str, detail: str = "", *, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail or code)
        self.status = status
        self.code = code
        self.detail = detail or TITLES.get(code, code)
        self.headers = headers or {}
        self.extra = extra or {}


def problem_body(status: int, code: str, detail: str, extra: dict[str, Any] | None = None,
                 path: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {"type": f"urn:casepilot:problem:{code}", "title": TITLES.get(code, code),
                            "status": status, "detail": detail, "code": code, **(extra or {})}
    if path.startswith(OPENAI_PATHS):
        body["error"] = {"message": detail, "type": code, "code": code}
    return body


def problem_response(status: int, code: str, detail: str = "", *, headers: dict[str, str] | None = None,
                     extra: dict[str, Any] | None = None, path: str = "") -> JSONResponse:
    return JSONResponse(problem_body(status, code, detail or TITLES.get(code, code), extra, path),
                        status_code=status, headers=headers, media_type=PROBLEM_JSON)


def from_error(e: CasepilotError) -> Problem:
    """The problem an error of the tree becomes."""
    if isinstance(e, NotFound):
        return Problem(404, "not_found", str(e))
    if isinstance(e, DuplicateDraft):  # the duplicates and the two ways forward, for a client to offer
        return Problem(409, "duplicate_draft", str(e), extra={"duplicates": e.duplicates, "choices": [
            {"action": "merge", "how": f"POST /v1/review/{e.case_id}/merge with {{\"into\": CASE_ID}}"},
            {"action": "distinct", "how": f"POST /v1/review/{e.case_id}/approve with {{\"distinct_reason\": ...}}"}]})
    if isinstance(e, Conflict):
        return Problem(409, "conflict", str(e))
    if isinstance(e, QuestionTooLong):  # the same code as the request check (deps.check_question)
        return Problem(422, "question_too_long", str(e))
    if isinstance(e, InputError):
        return Problem(400, "invalid_input", str(e))
    if isinstance(e, PermissionDenied):
        return Problem(403, "forbidden", str(e))
    if isinstance(e, BackendError):
        if e.timed_out:
            return Problem(504, "backend_timeout", e.public)
        if e.backend in ("database", "chroma"):
            return Problem(503, "backend_unavailable", f"{e.backend} is unavailable")
        return Problem(502, "backend_error", e.public)
    if isinstance(e, ConfigError):
        return Problem(500, "config_error", str(e))
    return Problem(500, "internal_error", "an unexpected error; it was logged")


HTTP_CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "body_too_large",
              415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited"}


def _allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    scope = {**request.scope, "method": "__NONE__"}

    def visit(routes: Any) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # an included router (FastAPI ≥ 0.12x)
            if inner is not None:
                visit(inner.routes)  # our routers are included without a further prefix
            elif route.matches(scope)[0] != Match.NONE:
                methods.update(getattr(route, "methods", None) or ())

    visit(request.app.routes)
    return ", ".join(sorted(methods))


def _message(error: Any) -> str:
    """pydantic's message, except where it would show a regular expression to a person."""
    if error.get("type") == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == VISIBLE:
        return "is empty or only white space"
    return str(error.get("msg", ""))


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem details."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc.status, exc.code, exc.detail, headers=exc.headers, extra=exc.extra,
                                path=request.url.path)

    async def on_casepilot(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CasepilotError)
        p = from_error(exc)
        if p.status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return problem_response(p.status, p.code, p.detail, extra=p.extra, path=request.url.path)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": _message(e),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else str(first["msg"])
        code = "malformed_body" if any(e["type"] == "json_invalid" for e in errors) else "validation_error"
        if code == "malformed_body":
            ctx = next((e.get("ctx") or {} for e in exc.errors() if e.get("type") == "json_invalid"), {})
            detail = f"the body is not valid JSON: {ctx.get('error', 'decode error')} at position {first['loc'][-1]}"
        return problem_response(422 if code == "validation_error" else 400, code, detail,
                                extra={"errors": errors}, path=request.url.path)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(code, code)
        code = getattr(exc, "code", None) or code
        if exc.status_code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
            what = "no route" if exc.status_code == 404 else "no such method for"
            detail = f"{what} {request.method} {request.url.path}"
        if exc.status_code == 400 and "parsing the body" in detail:
            code, detail = "malformed_body", "the body is not valid JSON in UTF-8"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's (Starlette's)
            headers["Allow"] = _allowed_methods(request)
        return problem_response(exc.status_code, code, detail, headers=headers, path=request.url.path)

    async def on_database(request: Request, exc: Exception) -> JSONResponse:
        # the database server went away (a restart, a network cut): the pool reconnects once it is back
        log.warning("%s %s: the database is unavailable: %s", request.method, request.url.path, exc)
        return problem_response(503, "backend_unavailable", "database is unavailable", path=request.url.path,
                                headers={"Retry-After": "5"})

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        return problem_response(500, "internal_error", "an unexpected error; it was logged", path=request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(CasepilotError, on_casepilot)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(sa.exc.OperationalError, on_database)
    app.add_exception_handler(sa.exc.InterfaceError, on_database)
    app.add_exception_handler(Exception, on_unexpected)

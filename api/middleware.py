"""One ASGI middleware in front of every route: request metrics, the body size limit (413 before the
body is read: from Content-Length, or while it streams in), the content type (415) and UTF-8 (400).

It is plain ASGI rather than ``BaseHTTPMiddleware`` so that streamed responses (Server-Sent Events)
pass through untouched."""

from __future__ import annotations

import codecs
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .config import ApiSettings
from .metrics import Metrics
from .problems import problem_response

JSON_TYPES = ("application/json",)
JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/json-lines",
               "application/json", "text/plain")
IMPORT_PATH = "/v1/imports"
# PUT /v1/taxonomy takes the taxonomy file as it is (JSON is YAML too)
YAML_TYPES = ("application/yaml", "text/yaml", "application/x-yaml", "text/x-yaml", "application/json",
              "text/plain")
TAXONOMY_PATH = "/v1/taxonomy"


class _BodyError(HTTPException):
    """Raised from ``receive``; an ``HTTPException`` so that FastAPI's body reading passes it on."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(status, detail)
        self.status, self.code = status, code


def _content_type(headers: dict[bytes, bytes]) -> tuple[str, str]:
    raw = headers.get(b"content-type", b"").decode("latin-1")
    main, _, params = raw.partition(";")
    charset = ""
    for p in params.split(";"):
        k, _, v = p.strip().partition("=")
        if k.lower() == "charset":
            charset = v.strip().strip('"').lower()
    return main.strip().lower(), charset


class ApiMiddleware:
    def __init__(self, app: ASGIApp, settings: ApiSettings, metrics: Metrics) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500, "started": False}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
            await send(message)

        try:
            early = self._check(scope)
            if early is not None:
                await self._problem(scope, send_wrapper, *early)
                return
            await self.app(scope, self._guard(scope, receive), send_wrapper)
        except _BodyError as e:
            if status["started"]:
                raise
            await self._problem(scope, send_wrapper, e.status, e.code, e.detail)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status["code"])).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - t0)

    def _limit(self, scope: Scope) -> int:
        return self.settings.max_import_bytes if scope["path"] == IMPORT_PATH else self.settings.max_body_bytes

    def _check(self, scope: Scope) -> tuple[int, str, str] | None:
        """What the headers alone refuse: a declared length over the limit, a wrong content type."""
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return None
        headers = dict(scope.get("headers") or [])
        limit = self._limit(scope)
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return 400, "bad_request", "Content-Length is not a number"
            if n > limit:
                return 413, "body_too_large", f"the body is {n} bytes; the limit is {limit}"
            if n == 0:
                return None  # routes without a body (archive, ...) take an empty POST
        main, charset = _content_type(headers)
        if not main and length is None and b"transfer-encoding" not in headers:
            return None
        allowed = {IMPORT_PATH: JSONL_TYPES, TAXONOMY_PATH: YAML_TYPES}.get(scope["path"], JSON_TYPES)
        if main not in allowed and not (main.startswith("application/") and main.endswith("+json")
                                        and scope["path"] != IMPORT_PATH):
            return 415, "unsupported_media_type", f"send {' or '.join(allowed[:2])}, not {main or 'no content type'}"
        if charset and charset not in ("utf-8", "utf8"):
            return 415, "unsupported_media_type", f"bodies are UTF-8, not {charset}"
        return None

    def _guard(self, scope: Scope, receive: Receive) -> Receive:
        """``receive`` that stops a body at the limit and refuses bytes that are not UTF-8."""
        limit = self._limit(scope)
        seen = 0
        decoder = codecs.getincrementaldecoder("utf-8")()
        check_utf8 = scope.get("method") in ("POST", "PUT", "PATCH")

        async def guarded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                body: bytes = message.get("body", b"")
                seen += len(body)
                if seen > limit:
                    raise _BodyError(413, "body_too_large", f"the body is over the limit of {limit} bytes")
                if check_utf8:
                    try:
                        decoder.decode(body, final=not message.get("more_body", False))
                    except UnicodeDecodeError as e:
                        hint = ""
                        try:
                            body.decode("gb18030")
                            hint = "; it looks like GBK/GB18030: convert it with `iconv -f GB18030 -t UTF-8`"
                        except UnicodeDecodeError:
                            pass
                        raise _BodyError(400, "malformed_body",
                                         f"the body is not UTF-8 (byte at offset {seen - len(body) + e.start}){hint}"
                                         ) from None
            return message

        return guarded

    async def _problem(self, scope: Scope, send: Any, status: int, code: str, detail: str) -> None:
        resp = problem_response(status, code, detail, path=scope["path"])
        await resp(scope, _empty_receive, send)


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}

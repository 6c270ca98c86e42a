"""The API's middleware, with the bots' webhooks as the platforms send them: any content type
(Slack's interactivity is a form, WeCom's callback is XML; each platform module checks its own
body after the signature), and the bots' own, smaller body limit (413 before the body is read)."""

from __future__ import annotations

from starlette.types import ASGIApp, Scope

from ..config import ApiSettings
from ..metrics import Metrics
from ..middleware import ApiMiddleware
from .common import BotSettings

PREFIX = "/bots/"


class BotAwareMiddleware(ApiMiddleware):
    def __init__(self, app: ASGIApp, settings: ApiSettings, metrics: Metrics,
                 bot_settings: BotSettings | None = None) -> None:
        super().__init__(app, settings, metrics)
        self.bot_limit = (bot_settings or BotSettings()).max_body_bytes

    def _limit(self, scope: Scope) -> int:
        return self.bot_limit if scope["path"].startswith(PREFIX) else super()._limit(scope)

    def _check(self, scope: Scope) -> tuple[int, str, str] | None:
        if not scope["path"].startswith(PREFIX):
            return super()._check(scope)
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return None
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.isdigit():
                return 400, "bad_request", "Content-Length is not a number"
            if int(length) > self.bot_limit:
                return 413, "body_too_large", f"the body is {int(length)} bytes; the limit is {self.bot_limit}"
        return None

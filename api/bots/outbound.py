"""Every call from a bot to a platform API goes through one ``Outbound``: one ``httpx.Client``
(connection pooling, timeouts), the platform's base URL (configurable per channel, so a test or a
proxy can stand in for the platform), and bounded retries with exponential backoff on network
errors, 429 and 5xx (honouring ``Retry-After`` up to the backoff cap). Other 4xx are not retried.

URLs never reach a log with their query string: some platforms put an access token there
(WeCom's ``access_token``, DingTalk's webhook ``session``/``access_token``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

log = logging.getLogger("casepilot.bots")

MAX_WAIT = 30.0  # the longest wait between attempts, whatever Retry-After says


class OutboundError(Exception):
    """A platform API call failed for good (after the retries, or with a status not worth retrying)."""


def safe_url(url: str | httpx.URL) -> str:
    """The URL without its query string or user info (for logs)."""
    u = httpx.URL(str(url))
    return str(u.copy_with(query=None, fragment=None, username=None, password=None))


class _NoQueryStrings(logging.Filter):
    """httpx logs each request's full URL at INFO; keep query strings (tokens) out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(safe_url(a) if isinstance(a, httpx.URL) else a for a in record.args)
        return True


_filter_installed = threading.Lock()
_FILTER = _NoQueryStrings()


def _install_log_filter() -> None:
    with _filter_installed:
        for name in ("httpx", "httpcore"):
            lg = logging.getLogger(name)
            if _FILTER not in lg.filters:
                lg.addFilter(_FILTER)


def json_reply(r: httpx.Response, what: str) -> dict[str, Any]:
    """A platform API's JSON object reply (``{}`` for other JSON); ``OutboundError`` when it is not JSON."""
    try:
        doc = r.json()
    except ValueError:
        raise OutboundError(f"{what}: the API answered no JSON") from None
    return doc if isinstance(doc, dict) else {}


class Outbound:
    def __init__(self, timeout: float = 10.0, retries: int = 3, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                   follow_redirects=False, headers={"User-Agent": "casepilot-bot/1"})
        self.tokens = TokenCache()
        _install_log_filter()

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, url: str, *, what: str, json: Any = None, params: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, allow_4xx: bool = False) -> httpx.Response:
        """The response of the first attempt that is not a network error, a 429 or a 5xx; at most
        ``1 + retries`` attempts. Raises ``OutboundError`` when every attempt failed, or on another
        4xx unless ``allow_4xx`` (for APIs that explain an expired token in a 4xx body)."""
        attempts = 1 + self.retries
        problem = ""
        for i in range(attempts):
            wait = self.backoff * (2 ** i)
            try:
                r = self.client.request(method, url, json=json, params=params, headers=headers)
            except httpx.HTTPError as e:  # connect, read, timeout, protocol
                problem = f"{type(e).__name__}"
            else:
                if r.status_code < 400:
                    return r
                problem = f"HTTP {r.status_code}"
                if r.status_code != 429 and r.status_code < 500:
                    if allow_4xx:
                        return r
                    raise OutboundError(f"{what}: {safe_url(url)} answered {problem}")
                retry_after = r.headers.get("retry-after", "")
                if retry_after.isdigit():
                    wait = max(wait, float(retry_after))
            if i + 1 < attempts:
                log.info("%s: %s (%s), attempt %d of %d; retrying", what, safe_url(url), problem, i + 1, attempts)
                self.sleep(min(wait, MAX_WAIT))
        raise OutboundError(f"{what}: gave up after {attempts} attempts ({problem}) at {safe_url(url)}")


class TokenCache:
    """Access tokens the platforms hand out for a while (Feishu's tenant_access_token, WeCom's
    access_token), per channel and per secret fingerprint, refreshed a minute before they expire."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, fetch: Callable[[], tuple[str, float]]) -> str:
        now = time.monotonic()
        with self._lock:
            hit = self._tokens.get(key)
            if hit and hit[1] > now:
                return hit[0]
        token, ttl = fetch()
        with self._lock:
            self._tokens[key] = (token, now + max(ttl - 60.0, 0.0))
        return token

    def drop(self, key: str) -> None:
        with self._lock:
            self._tokens.pop(key, None)

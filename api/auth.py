"""API keys, roles and the per-key rate limit.

A key reads ``cp_<id>_<secret>``: ``id`` (12 hex characters) is public, shown by ``keys list`` and in
the audit log; ``secret`` (32 random bytes, URL-safe) is shown once, when the key is created, and only
its sha256 is stored. Requests carry it as ``Authorization: Bearer cp_...``. A key belongs to one
tenant and has one role; every request acts in its key's tenant and nowhere else (no route takes a
tenant from the request).

Roles are ordered: ``agent`` < ``reviewer`` < ``admin``; each may do everything the ones below it may.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from assistant.errors import InputError

from .problems import Problem
from .ratebuckets import SharedBuckets
from .store import KeyStore

ROLES = ("agent", "reviewer", "admin")
RANK = {r: i for i, r in enumerate(ROLES)}
KEY_RE = re.compile(r"^cp_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, tenant, role and name."""

    key_id: str
    tenant: str
    role: str
    name: str = ""

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"api:{self.key_id}" + (f" ({self.name})" if self.name else "")

    def may(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(keys: KeyStore, tenant: str, role: str, name: str = "") -> dict[str, Any]:
    """A new key: ``{"key", "id", "role", "tenant", "name", "created_at"}``; ``key`` is never shown again."""
    if role not in RANK:
        raise InputError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    name = (name or "").strip()
    if len(name) > 200:
        raise InputError("a key's name is at most 200 characters")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = keys.add_api_key(key_id, tenant, role, name, hash_secret(secret))
    return {"key": f"cp_{key_id}_{secret}", **asdict(row)}


def verify_key(keys: KeyStore, key: str) -> Principal:
    """The principal of a presented key, or a 401 problem (malformed, unknown, wrong secret, revoked)."""
    m = KEY_RE.match(key.strip())
    if m is None:
        raise Problem(401, "invalid_key", "the key is not a casepilot key (cp_<12 hex digits>_<secret of 43 "
                      "characters>, as `casepilot keys create` printed it; was it cut short?)", headers=CHALLENGE)
    row = keys.api_key(m.group(1))
    # compare against a hash even for an unknown id, so timing does not tell ids apart
    expected = row.secret_hash if row else hash_secret("-")
    if not hmac.compare_digest(expected, hash_secret(m.group(2))) or row is None:
        raise Problem(401, "invalid_key", "unknown API key", headers=CHALLENGE)
    if row.revoked_at:
        raise Problem(401, "key_revoked", f"key {row.id} was revoked at {row.revoked_at}", headers=CHALLENGE)
    return Principal(row.id, row.tenant, row.role, row.name)


CHALLENGE = {"WWW-Authenticate": 'Bearer realm="casepilot"'}


class RateLimiter:
    """A token bucket per key: ``burst`` requests at once, refilled at ``per_minute``;
    ``per_minute=0`` turns it off.

    With ``path`` the buckets live in a small SQLite file (``CASEPILOT_HOME/ratelimits.sqlite``),
    updated in one ``BEGIN IMMEDIATE`` transaction per request, so every worker process serving the
    home draws from the same bucket and ``--workers 4`` does not give a key four times its rate
    (about 0.2 ms a request). With ``shared`` they live in PostgreSQL, shared by every host
    (``api.ratebuckets``). Without either they live in this process's memory."""

    def __init__(self, per_minute: float, burst: int, path: Path | None = None,
                 shared: SharedBuckets | None = None) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.shared = shared if self.rate > 0 else None
        self.path = None if shared else path
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        if self.path is not None and self.rate > 0:
            with closing(self._connect()) as db:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL, at REAL)")

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=10000")
        return db

    def _refill(self, tokens: float, last: float, now: float) -> float:
        return min(self.burst, tokens + max(0.0, now - last) * self.rate)

    def take(self, key: str) -> float:
        """0 when the request may go ahead; else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        if self.shared is not None:
            return self.shared.take(key, self.rate, self.burst)
        if self.path is not None:
            return self._take_shared(key)
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = self._refill(tokens, last, now)
            ok = tokens >= 1.0
            self._buckets[key] = (tokens - 1.0 if ok else tokens, now)
        return 0.0 if ok else (1.0 - tokens) / self.rate

    def _take_shared(self, key: str) -> float:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute("SELECT tokens, at FROM buckets WHERE key = ?", (key,)).fetchone()
            tokens = self._refill(row[0], row[1], now) if row else self.burst
            ok = tokens >= 1.0
            db.execute("INSERT INTO buckets (key, tokens, at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE "
                       "SET tokens = excluded.tokens, at = excluded.at", (key, tokens - 1.0 if ok else tokens, now))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return 0.0 if ok else (1.0 - tokens) / self.rate


bearer = HTTPBearer(auto_error=False, bearerFormat="cp_<id>_<secret>",
                    description="a casepilot API key: `casepilot keys create --role agent|reviewer|admin`")


def authenticate(request: Request,
                 creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    if creds is None:
        raise Problem(401, "unauthenticated", "send the API key as 'Authorization: Bearer cp_...'",
                      headers=CHALLENGE)
    state = request.app.state.casepilot
    principal = verify_key(state.http, creds.credentials)
    request.state.principal = principal
    wait = state.limiter.take(principal.key_id)
    if wait > 0:
        raise Problem(429, "rate_limited", f"key {principal.key_id} is over its rate limit; retry in "
                      f"{math.ceil(wait)} s", headers={"Retry-After": str(math.ceil(wait))})
    return principal


def require(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:  # no thread hop
        if not principal.may(role):
            article = "an" if principal.role[0] in "aeiou" else "a"
            raise Problem(403, "forbidden", f"{article} {principal.role} key may not do this; it needs the {role} role")
        return principal

    check.__name__ = f"require_{role}"
    return check


Agent = Annotated[Principal, Depends(require("agent"))]
Reviewer = Annotated[Principal, Depends(require("reviewer"))]
Admin = Annotated[Principal, Depends(require("admin"))]

"""The rate limiter's token buckets in PostgreSQL, so that every API host sharing the database draws
from one bucket per key. One statement per request: the row lock of the upsert serialises hosts, and
the database's clock is the one clock they share. The table is the API's own ephemeral state (a lost
bucket only refills early), created on first use rather than by the store's migrations."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assistant.store import Store

TABLE = "casepilot_rate_buckets"
_NOW = "extract(epoch from clock_timestamp())"
_REFILL = f"least(:burst, b.tokens + greatest(0, {_NOW} - b.at) * :rate)"
_TAKE = sa.text(f"""
INSERT INTO {TABLE} AS b (key, tokens, at, took) VALUES (:key, :burst - 1, {_NOW}, true)
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE WHEN {_REFILL} >= 1 THEN {_REFILL} - 1 ELSE {_REFILL} END,
    took = {_REFILL} >= 1,
    at = {_NOW}
RETURNING tokens, took""")


class SharedBuckets:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS {TABLE} (key text PRIMARY KEY, "
                                 "tokens double precision NOT NULL, at double precision NOT NULL, "
                                 "took boolean NOT NULL)"))

    def take(self, key: str, rate: float, burst: float) -> float:
        """0 when the request may go ahead; else the seconds until it may."""
        with self.engine.begin() as conn:
            tokens, took = conn.execute(_TAKE, {"key": key, "rate": rate, "burst": burst}).one()
        return 0.0 if took else (1.0 - float(tokens)) / rate


def shared_buckets(store: Store, per_minute: float) -> SharedBuckets | None:
    """The buckets every host shares, when the store is a shared database and limits are on."""
    return SharedBuckets(store.engine) if store.shared and per_minute > 0 else None

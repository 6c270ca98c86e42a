"""Write serialisation across processes and hosts. With PostgreSQL: a session-level advisory lock per
tenant, held on a connection of its own for the length of the write; the server drops it when that
connection ends, so a host killed mid-write (or a server restart) never leaves a tenant locked. With
SQLite (one host): an exclusive ``flock`` on a file of the home, which the kernel drops with the
process."""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import BackendError

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (advisory locks are keyed by a bigint)."""
    return int.from_bytes(hashlib.sha256(f"casepilot:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(engine: Engine, name: str) -> Iterator[None]:
    key = lock_key(name)
    try:
        conn = engine.connect()
    except sa.exc.SQLAlchemyError as e:
        raise BackendError("database", f"cannot take the write lock of {name!r}: {e}") from e
    try:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": key})
        conn.commit()  # the lock outlives the transaction; an open one would hold back vacuum
    except sa.exc.SQLAlchemyError as e:
        conn.close()
        raise BackendError("database", f"cannot take the write lock of {name!r}: {e}") from e
    try:
        yield
    finally:
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        except sa.exc.SQLAlchemyError as e:  # the connection died: the server released the lock with it
            log.warning("releasing the write lock of %r: %s", name, e)
            conn.invalidate()
        finally:
            conn.close()


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

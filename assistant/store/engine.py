"""Opening the database: the engine (SQLite with WAL and a busy timeout, or any SQLAlchemy URL such as
PostgreSQL) and the Alembic migrations that create and upgrade its schema in place."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import ConfigError


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _migrations_dir() -> str:
    return str(resources.files("assistant.store").joinpath("migrations"))


_REVISION = re.compile(r"""^(revision|down_revision)\s*(?::[^=]*)?=\s*(?:["']([^"']+)["']|None)\s*$""", re.M)


def _script_head() -> str | None:
    """The head of the migration scripts (each names its revision and the one before it), read without
    importing alembic; None when there is not exactly one."""
    revisions, parents = set(), set()
    for f in resources.files("assistant.store").joinpath("migrations", "versions").iterdir():
        if f.name.endswith(".py"):
            found = dict((m.group(1), m.group(2)) for m in _REVISION.finditer(f.read_text(encoding="utf-8")))
            if "revision" not in found or "down_revision" not in found or found["revision"] is None:
                return None
            revisions.add(found["revision"])
            parents.add(found["down_revision"])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """The database's schema is the scripts' head already, so upgrading to it would do nothing."""
    head = _script_head()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).fetchall()
    except sa.exc.DBAPIError:  # no schema yet
        return False
    return [r[0] for r in rows] == [head]


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (in place, keeping the data)."""
    if revision == "head" and _at_head(engine):
        return  # opening a current store costs one query, not alembic's import (0.1 s)
    # lazy: alembic costs 0.09 s at import and only opening a store needs it
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            return
        except (sa.exc.OperationalError, sa.exc.IntegrityError, sa.exc.ProgrammingError) as e:
            # another process (a second server worker) created the same tables between our reading the
            # schema version and our creating them: read it again (SQLite says so with an OperationalError;
            # PostgreSQL with a duplicate table, or a duplicate key in its catalogue: "... already exists")
            if attempt == 4 or "already exists" not in str(e):
                raise
            time.sleep(0.1 * (attempt + 1))


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _rec: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]  # psycopg 3, the `postgres` extra
    try:
        # pre-ping: a server restarted since a connection was pooled costs a reconnect, not an error
        return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_recycle=1800)
    except ModuleNotFoundError as e:
        raise ConfigError(f"no driver for {url.split('://', 1)[0]}: install the postgres extra "
                          "(pip install 'casepilot[postgres]'; make setup does)") from e

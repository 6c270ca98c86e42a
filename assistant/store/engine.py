"""Opening the database: the engine (SQLite with WAL and a busy timeout, or any SQLAlchemy URL such as
PostgreSQL) and the Alembic migrations that create and upgrade its schema in place."""

from __future__ import annotations

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


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the database schema to ``revision`` (in place, keeping the data)."""
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

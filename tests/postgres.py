"""A throwaway PostgreSQL cluster on loopback, from Debian's ``postgresql`` package (``.ci/run`` installs
it): ``initdb`` into a temporary folder, ``pg_ctl start`` on a free port, one fresh database per test.
Outside CI a machine without PostgreSQL skips these tests, saying why; under ``CI=true`` that is a
failure. PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

USER = "casepilot"


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the PostgreSQL tests must run in CI (.ci/run installs PostgreSQL): {why}")
    pytest.skip(f"PostgreSQL tests skipped: {why} (install Debian's postgresql package, as .ci/run does)")


class PostgresServer:
    """One cluster; ``database()`` makes a fresh database from a template that already has the schema."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            unavailable("no pg_ctl on PATH or in /usr/lib/postgresql/*/bin")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            unavailable("the psycopg driver is not installed (the 'postgres' extra: pip install -e '.[postgres]')")
        assert bindir is not None
        self.bindir = bindir
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                unavailable("running as root and there is no 'postgres' user to run the server as")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="casepilot-pg-"))
        if self.run_as:
            shutil.chown(self.root, "postgres")
        self.data = self.root / "data"
        self.port = _free_port()
        self._pg(["initdb", "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync",
                  "--locale=C.UTF-8"])
        self.start()
        self._template: str | None = None

    def _pg(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bindir / argv[0]), *argv[1:]]
        return subprocess.run(self.run_as + argv, capture_output=True, text=True, check=check, cwd=self.root)

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._pg(["pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._pg(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"], check=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def empty_database(self) -> str:
        """A fresh database without any tables, as a SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def database(self) -> str:
        """A fresh database with casepilot's schema, as a SQLAlchemy URL."""
        if self._template is None:
            from assistant.store.store import make_engine, upgrade_schema

            self._admin("CREATE DATABASE casepilot_template")
            engine = make_engine(self.url("casepilot_template"))
            upgrade_schema(engine)
            engine.dispose()
            self._template = "casepilot_template"
        name = f"t_{uuid.uuid4().hex[:12]}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {self._template}")
        return self.url(name)

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

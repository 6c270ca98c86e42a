"""Throwaway servers on loopback for benchmarks and tests: a PostgreSQL cluster from Debian's
``postgresql`` package (``initdb`` into a temporary folder, ``pg_ctl start`` on a free port) and a
``chroma run`` server. Each raises ``Unavailable`` (saying why) where its program is not installed.
PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` user."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

USER = "casepilot"


class Unavailable(RuntimeError):
    """The server's program is not installed here."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bindir() -> Path | None:
    """Debian's folder of PostgreSQL's programs (the newest version), else wherever pg_ctl really is."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


class PostgresCluster:
    """One cluster; ``database()`` makes a fresh database from a template that already has the schema."""

    def __init__(self) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise Unavailable("no pg_ctl on PATH or in /usr/lib/postgresql/*/bin")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise Unavailable("the psycopg driver is not installed (the 'postgres' extra)") from None
        self.bindir = bindir
        self.run_as: list[str] = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("running as root and there is no 'postgres' user to run the server as") from None
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.root = Path(tempfile.mkdtemp(prefix="casepilot-pg-"))
        if self.run_as:
            shutil.chown(self.root, "postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.tool("initdb", "-D", str(self.data), "-A", "trust", "-U", USER, "-E", "UTF8", "--no-sync",
                  "--locale=C.UTF-8")
        self.start()
        self._template: str | None = None

    def tool(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one of PostgreSQL's programs (as the server's user)."""
        return subprocess.run([*self.run_as, str(self.bindir / name), *args], capture_output=True, text=True,
                              check=check, cwd=self.root)

    def start(self) -> None:
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self.tool("pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.tool("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(sql.encode())  # our own statements, no parameters

    def empty_database(self) -> str:
        """A fresh database without any tables, as a SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin(f"CREATE DATABASE {name}")
        return self.url(name)

    def database(self) -> str:
        """A fresh database with casepilot's schema, as a SQLAlchemy URL."""
        if self._template is None:
            from assistant.store.store import make_engine, upgrade_schema

            self.admin("CREATE DATABASE casepilot_template")
            engine = make_engine(self.url("casepilot_template"))
            upgrade_schema(engine)
            engine.dispose()
            self._template = "casepilot_template"
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.admin(f"CREATE DATABASE {name} TEMPLATE {self._template}")
        return self.url(name)

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


CHROMA = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")


class ChromaServer:
    """``chroma run`` on ``port``; ``stop`` and ``start`` again keep the port and the folder."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        if not Path(CHROMA).exists():
            raise Unavailable("the chroma command is not installed")
        self.folder, self.port = folder, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen([CHROMA, "run", "--path", str(self.folder), "--host", "127.0.0.1",
                                      "--port", str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=1).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("the Chroma server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()

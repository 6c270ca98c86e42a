"""API hosts for the distributed tests: each a ``casepilot serve`` process with a home of its own,
sharing one database and one Chroma server, as separate machines would; and the few requests the
tests make of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from api.auth import create_key
from api.store import HttpStore
from assistant.store import Store
from evals.throwaway import free_port

# the hash embedder keeps the hosts' start and imports fast; a burst of 5 requests per key; a
# heartbeat of import jobs fast enough to see a dead host's job
ENV = {"CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash", "CASEPILOT_ABSTAIN_BELOW": "0",
       "CASEPILOT_API_RATE_PER_MINUTE": "6", "CASEPILOT_API_RATE_BURST": "5",
       "CASEPILOT_API_IMPORT_HEARTBEAT_SECONDS": "0.5"}  # a dead host's job is reported after 3 s


class Host:
    def __init__(self, home: Path, database_url: str, chroma_url: str) -> None:
        self.home, self.database_url, self.chroma_url = home, database_url, chroma_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Host:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **ENV, "CASEPILOT_HOME": str(self.home), "CASEPILOT_DATABASE_URL": self.database_url,
               "CASEPILOT_CHROMA_URL": self.chroma_url}
        log = (self.home / "serve.log").open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
                                     env=env, stdout=log, stderr=log)
        for _ in range(600):
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError(f"casepilot serve did not start: {self.log()}")

    def log(self) -> str:
        return (self.home / "serve.log").read_text(errors="replace")[-3000:]

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:  # still finishing an import job
                self.kill()


def new_key(database_url: str, role: str = "admin", tenant: str = "default") -> dict[str, str]:
    """A fresh key's header: a key per step keeps each step within the hosts' rate limit."""
    store = Store(database_url, migrate=False)
    try:
        return {"Authorization": f"Bearer {create_key(HttpStore(store), tenant, role)['key']}"}
    finally:
        store.close()


def import_(url: str, records: list[dict[str, Any]], headers: dict[str, str], wait: bool = True) -> httpx.Response:
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    return httpx.post(url + "/v1/imports", params={"wait": str(wait).lower()}, content=body, timeout=300,
                      headers={**headers, "Content-Type": "application/x-ndjson"})


def search(url: str, query: str, headers: dict[str, str]) -> list[str]:
    r = httpx.post(url + "/v1/search", json={"query": query, "k": 5}, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["results"]]

"""Two API hosts sharing one PostgreSQL and one Chroma server (issue 22's acceptance): each host is a
``casepilot serve`` process with a home of its own (its keyword index, uploads and logs), as two
machines would be. What one host writes, the other serves; writes of a tenant serialise across them;
a key's rate limit holds across them; a host killed mid-import loses nothing; restarts of PostgreSQL
and of the Chroma server give clear 503s meanwhile and are survived."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import create_key
from assistant.embeddings import HashEmbedder
from assistant.library import Library
from assistant.settings import Settings
from assistant.store import Store
from tests.chroma_server import ChromaServer
from tests.conftest import case
from tests.postgres import PostgresServer
from tests.test_api import free_port

ENV = {"CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash", "CASEPILOT_ABSTAIN_BELOW": "0",
       "CASEPILOT_API_RATE_PER_MINUTE": "6", "CASEPILOT_API_RATE_BURST": "5"}


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


@pytest.fixture
def cluster(tmp_path: Path, postgres: PostgresServer) -> Iterator[dict[str, Any]]:
    url = postgres.database()
    chroma = ChromaServer(tmp_path / "chroma", free_port())
    hosts = [Host(tmp_path / name, url, chroma.url) for name in ("host-a", "host-b")]
    try:
        for h in hosts:
            h.start()
        yield {"a": hosts[0], "b": hosts[1], "db": url, "chroma": chroma, "pg": postgres, "tmp": tmp_path}
    finally:
        for h in hosts:
            h.stop()
        chroma.stop()


def key(cluster: dict[str, Any], role: str = "admin") -> dict[str, str]:
    """A fresh key per step: the hosts run with a rate limit of a burst of 5 per key."""
    store = Store(cluster["db"], migrate=False)
    try:
        return {"Authorization": f"Bearer {create_key(store, 'default', role)['key']}"}
    finally:
        store.close()


def import_(host: Host, records: list[dict[str, Any]], headers: dict[str, str], wait: bool = True) -> httpx.Response:
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    return httpx.post(host.url + "/v1/imports", params={"wait": str(wait).lower()}, content=body, timeout=300,
                      headers={**headers, "Content-Type": "application/x-ndjson"})


def search(host: Host, query: str, headers: dict[str, str]) -> list[str]:
    r = httpx.post(host.url + "/v1/search", json={"query": query, "k": 5}, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["results"]]


def test_two_hosts_share_one_library(cluster: dict[str, Any]) -> None:
    a, b = cluster["a"], cluster["b"]
    # an import through host A is answered on host B
    r = import_(a, [case("C-1", "打印机连不上WiFi：路由器只开了5GHz", solution="1. 登录路由器后台\n2. 开启2.4GHz频段"),
                    case("C-2", "冷库温度报警怎么处理", solution="1. 检查温控探头\n2. 转运至备用冷库", product="冷链"),
                    case("C-DRAFT", "扫码枪无法识别条码", status="in_review")], key(cluster))
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    agent_b = key(cluster, "agent")
    assert search(b, "冷库温度报警", agent_b)[0] == "C-2"
    ask = httpx.post(b.url + "/v1/ask", json={"question": "冷库温度报警了怎么办？"}, headers=agent_b, timeout=60)
    assert ask.status_code == 200 and "C-2" in {c["id"] for c in ask.json()["citations"]}, ask.text

    # an archive (the API's delete from retrieval) on B is gone from A's next search
    assert httpx.post(b.url + "/v1/cases/C-2/archive", headers=key(cluster), timeout=60).status_code == 200
    assert "C-2" not in search(a, "冷库温度报警", key(cluster, "agent"))

    # the same draft approved on both hosts at once is approved once; the other gets 409
    results: dict[str, httpx.Response] = {}
    barrier = threading.Barrier(2)

    def approve(name: str, host: Host, headers: dict[str, str]) -> None:
        barrier.wait()
        results[name] = httpx.post(host.url + "/v1/review/C-DRAFT/approve", headers=headers, timeout=60)

    threads = [threading.Thread(target=approve, args=(n, h, key(cluster, "reviewer"))) for n, h in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in results.values()) == [200, 409], {n: r.text for n, r in results.items()}
    store = Store(cluster["db"], migrate=False)
    approvals = [e for e in store.audit("default", "C-DRAFT") if e["action"] == "approve"]
    store.close()
    assert len(approvals) == 1

    # a rate limit set for a key holds across both hosts: a burst of 5, refilled at 6 a minute
    limited = key(cluster, "agent")
    codes = [httpx.get(h.url + "/v1/models", headers=limited, timeout=30).status_code for h in (a, b) * 4]
    assert codes.count(200) == 5 and codes.count(429) == 3, codes


def test_a_host_killed_mid_import_loses_nothing(cluster: dict[str, Any]) -> None:
    a, b = cluster["a"], cluster["b"]
    records = [case(f"C-{n:05d}", f"第{n}号问题：设备报错代码E{n}", solution=f"1. 重启\n2. 更换部件{n}")
               for n in range(3000)]
    r = import_(a, records, key(cluster), wait=False)
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    store = Store(cluster["db"], migrate=False)
    for _ in range(1200):  # kill host A once the import is under way (some records written, not all)
        progress = store.import_job("default", job)
        if progress is not None and progress["done"] >= 200:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the import did not start: {a.log()}")
    a.kill()
    ids = [r["id"] for r in records]
    assert 0 < len(store.get_many("default", ids)) < 3000, "killed before or after the import, not in the middle"

    # the re-run (through the other host) completes it; the write lock died with host A's connection
    r = import_(b, records, key(cluster))
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    assert len(store.get_many("default", ids)) == 3000
    store.close()
    assert search(b, "设备报错代码E2999", key(cluster, "agent"))[0] == "C-02999"
    lib = Library(Settings(home=cluster["tmp"] / "checker", database_url=cluster["db"], chroma_url=cluster["chroma"].url,
                           embedder="hash", passage_embedder="hash"), embedder=HashEmbedder())
    for name, space in lib.spaces.items():  # the server's vectors are the store's chunks: nothing half-written
        assert space.vectors.ids() == {c.id for c in lib.store.chunks(lib.tenant, space=name)}, name
    lib.close()


def test_restarts_of_postgresql_and_chroma_give_503s_and_are_survived(cluster: dict[str, Any]) -> None:
    a, pg, chroma = cluster["a"], cluster["pg"], cluster["chroma"]
    admin = key(cluster)
    r = import_(a, [case("C-1", "打印机卡纸怎么办")], admin)
    assert r.status_code == 200, r.text
    agent = key(cluster, "agent")
    assert search(a, "打印机卡纸", agent) == ["C-1"]

    pg.stop()
    try:
        r = httpx.post(a.url + "/v1/search", json={"query": "打印机卡纸"}, headers=agent, timeout=60)
        assert r.status_code == 503 and r.json()["code"] == "backend_unavailable", r.text
        assert httpx.get(a.url + "/readyz", timeout=30).status_code == 503
    finally:
        pg.start()
    assert search(a, "打印机卡纸", agent) == ["C-1"]  # the pool reconnects: no restart of the host

    chroma.stop()
    try:
        r = import_(a, [case("C-2", "扫码枪无法识别条码")], admin)
        assert r.status_code == 503 and r.json()["code"] == "backend_unavailable", r.text
    finally:
        chroma.start()
    r = import_(a, [case("C-2", "扫码枪无法识别条码")], admin)
    assert r.status_code == 200, r.text
    assert search(a, "扫码枪无法识别", agent)[0] == "C-2"

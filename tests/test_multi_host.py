"""Two API hosts sharing one PostgreSQL and one Chroma server (issue 22's acceptance): each host is a
``casepilot serve`` process with a home of its own (its keyword index, uploads and logs), as two
machines would be. What one host writes, the other serves; writes of a tenant serialise across them;
a key's rate limit holds across them; a host killed mid-import loses nothing; restarts of PostgreSQL
and of the Chroma server give clear 503s meanwhile and are survived."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.store import HttpStore
from assistant.embeddings import HashEmbedder
from assistant.library import Library
from assistant.settings import Settings
from assistant.store import Store
from evals.throwaway import PostgresCluster
from tests.chroma_server import start_chroma
from tests.conftest import case
from tests.hosts import Host, import_, new_key, search


@pytest.fixture
def cluster(tmp_path: Path, postgres: PostgresCluster) -> Iterator[dict[str, Any]]:
    url = postgres.database()
    chroma = start_chroma(tmp_path / "chroma")
    hosts = [Host(tmp_path / name, url, chroma.url) for name in ("host-a", "host-b")]
    try:
        for h in hosts:
            h.start()
        yield {"a": hosts[0], "b": hosts[1], "db": url, "chroma": chroma, "pg": postgres, "tmp": tmp_path}
    finally:
        for h in hosts:
            h.stop()
        chroma.stop()


def test_two_hosts_share_one_library(cluster: dict[str, Any]) -> None:
    a, b = cluster["a"], cluster["b"]
    # an import through host A is answered on host B
    r = import_(a.url, [case("C-1", "打印机连不上WiFi：路由器只开了5GHz", solution="1. 登录路由器后台\n2. 开启2.4GHz频段"),
                    case("C-2", "冷库温度报警怎么处理", solution="1. 检查温控探头\n2. 转运至备用冷库", product="冷链"),
                    case("C-DRAFT", "扫码枪无法识别条码", status="in_review")], new_key(cluster["db"]))
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    agent_b = new_key(cluster["db"], "agent")
    assert search(b.url, "冷库温度报警", agent_b)[0] == "C-2"
    ask = httpx.post(b.url + "/v1/ask", json={"question": "冷库温度报警了怎么办？"}, headers=agent_b, timeout=60)
    assert ask.status_code == 200 and "C-2" in {c["id"] for c in ask.json()["citations"]}, ask.text

    # an archive (the API's delete from retrieval) on B is gone from A's next search
    archived = httpx.post(b.url + "/v1/cases/C-2/archive", headers=new_key(cluster["db"]), timeout=60)
    assert archived.status_code == 200, archived.text
    assert "C-2" not in search(a.url, "冷库温度报警", new_key(cluster["db"], "agent"))

    # the same draft approved on both hosts at once is approved once; the other gets 409
    results: dict[str, httpx.Response] = {}
    barrier = threading.Barrier(2)

    def approve(name: str, host: Host, headers: dict[str, str]) -> None:
        barrier.wait()
        results[name] = httpx.post(host.url + "/v1/review/C-DRAFT/approve", headers=headers, timeout=60)

    threads = [threading.Thread(target=approve, args=(n, h, new_key(cluster["db"], "reviewer")))
               for n, h in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.status_code for r in results.values()) == [200, 409], {n: r.text for n, r in results.items()}
    store = Store(cluster["db"], migrate=False)
    approvals = [e for e in store.audit("default", "C-DRAFT") if e.action == "approve"]
    store.close()
    assert len(approvals) == 1

    # a rate limit set for a key holds across both hosts: a burst of 5, refilled at 6 a minute
    limited = new_key(cluster["db"], "agent")
    codes = [httpx.get(h.url + "/v1/models", headers=limited, timeout=30).status_code for h in (a, b) * 4]
    assert codes.count(200) == 5 and codes.count(429) == 3, codes


def test_a_host_killed_mid_import_loses_nothing(cluster: dict[str, Any]) -> None:
    a, b = cluster["a"], cluster["b"]
    records = [case(f"C-{n:05d}", f"第{n}号问题：设备报错代码E{n}", solution=f"1. 重启\n2. 更换部件{n}")
               for n in range(2000)]
    r = import_(a.url, records, new_key(cluster["db"]), wait=False)
    assert r.status_code == 202, r.text
    job = r.json()["id"]
    store = Store(cluster["db"], migrate=False)
    for _ in range(1200):  # kill host A once the import is under way (some records written, not all)
        progress = HttpStore(store).import_job("default", job)
        if progress is not None and progress.done >= 200:
            break
        time.sleep(0.05)
    else:
        raise AssertionError(f"the import did not start: {a.log()}")
    a.kill()
    ids = [r["id"] for r in records]
    assert 0 < len(store.get_many("default", ids)) < 2000, "killed before or after the import, not in the middle"

    # any host reports the dead host's job as interrupted, once it missed its heartbeats
    for _ in range(100):
        reported = httpx.get(b.url + f"/v1/imports/{job}", headers=new_key(cluster["db"]), timeout=30).json()
        if reported["status"] != "running":
            break
        time.sleep(0.2)
    assert reported["status"] == "interrupted" and "post the upload again" in reported["error"], reported

    # the re-run (through the other host) completes it; the write lock died with host A's connection
    r = import_(b.url, records, new_key(cluster["db"]))
    assert r.status_code == 200 and r.json()["status"] == "done", r.text
    assert len(store.get_many("default", ids)) == 2000
    store.close()
    assert search(b.url, "设备报错代码E1999", new_key(cluster["db"], "agent"))[0] == "C-01999"
    lib = Library(Settings(home=cluster["tmp"] / "checker", database_url=cluster["db"], chroma_url=cluster["chroma"].url,
                           embedder="hash", passage_embedder="hash"), embedder=HashEmbedder())
    for name, space in lib.spaces.items():  # the server's vectors are the store's chunks: nothing half-written
        assert space.vectors.ids() == {c.id for c in lib.store.chunks(lib.tenant, space=name)}, name
    lib.close()


def test_restarts_of_postgresql_and_chroma_give_503s_and_are_survived(cluster: dict[str, Any]) -> None:
    a, pg, chroma = cluster["a"], cluster["pg"], cluster["chroma"]
    admin = new_key(cluster["db"])
    r = import_(a.url, [case("C-1", "打印机卡纸怎么办")], admin)
    assert r.status_code == 200, r.text
    agent = new_key(cluster["db"], "agent")
    assert search(a.url, "打印机卡纸", agent) == ["C-1"]

    pg.stop()
    try:
        r = httpx.post(a.url + "/v1/search", json={"query": "打印机卡纸"}, headers=agent, timeout=60)
        assert r.status_code == 503 and r.json()["code"] == "backend_unavailable", r.text
        assert httpx.get(a.url + "/readyz", timeout=30).status_code == 503
    finally:
        pg.start()
    assert search(a.url, "打印机卡纸", agent) == ["C-1"]  # the pool reconnects: no restart of the host

    chroma.stop()
    try:
        r = import_(a.url, [case("C-2", "扫码枪无法识别条码")], admin)
        assert r.status_code == 503 and r.json()["code"] == "backend_unavailable", r.text
    finally:
        chroma.start()
    r = import_(a.url, [case("C-2", "扫码枪无法识别条码")], admin)
    assert r.status_code == 200, r.text
    assert search(a.url, "扫码枪无法识别", agent)[0] == "C-2"

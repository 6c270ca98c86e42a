"""Several processes on one CASEPILOT_HOME, and concurrent reads inside one process.

* one ``casepilot serve`` (two uvicorn workers) imports a case; a second server process on the same
  home, which had already searched (so its keyword index and vector collections were loaded),
  finds it and cites it;
* searches and answers from 8 threads at once equal those of one thread (the measurement behind
  sharing the tenant lock between readers, api/tenants.py);
* the workers of one ``casepilot serve`` each take a share of 20 kept-alive connections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import create_key
from api.store import HttpStore
from api.tenants import Tenants
from assistant.settings import Settings
from assistant.store import Store
from evals.bench_api import listening
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl
from tests.test_api import free_port

ENV = {"CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash", "CASEPILOT_ABSTAIN_BELOW": "0"}


def serve(home: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, **ENV, "CASEPILOT_HOME": str(home)}
    p = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--workers", str(workers)],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:  # every worker listens once it has warmed up: until then it takes no connection
            if httpx.get(url + "/healthz", timeout=1).status_code == 200 and (listening(port) or workers) >= workers:
                return p, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    p.kill()
    raise RuntimeError(f"casepilot serve did not start: {p.stderr.read().decode() if p.stderr else ''}")


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[dict[str, Any]]:
    home = tmp_path / "home"
    settings = Settings(home=home, embedder="hash", passage_embedder="hash")
    tenants = Tenants(settings)
    Ingestor(tenants.get("default").library).ingest_paths([write_jsonl(tmp_path / "a.jsonl", [
        case("C-1"), case("C-2", "账单重复扣费", tags=["产品线/计费系统"], product="云账通")])])
    store = Store(settings.db_url)
    keys = {r: create_key(HttpStore(store), "default", r)["key"] for r in ("agent", "admin")}
    tenants.close()
    store.close()
    (p1, url1), (p2, url2) = serve(home, 2), serve(home, 1)
    try:
        yield {"writer": url1, "reader": url2, "keys": keys}
    finally:
        for p in (p1, p2):
            p.terminate()
            p.wait(15)


def test_a_case_imported_through_one_server_is_found_by_another(two_servers: dict[str, Any]) -> None:
    admin = {"Authorization": f"Bearer {two_servers['keys']['admin']}"}
    agent = {"Authorization": f"Bearer {two_servers['keys']['agent']}"}
    with httpx.Client(base_url=two_servers["reader"], headers=agent, timeout=60) as reader:
        before = reader.post("/v1/search", json={"query": "扫描仪无法识别U盘", "k": 5}).json()["results"]
        assert "C-NEW" not in [h["id"] for h in before]
        with httpx.Client(base_url=two_servers["writer"], headers=admin, timeout=60) as writer:
            body = json.dumps(case("C-NEW", "扫描仪无法识别U盘", problem="扫描仪插入U盘没有反应。",
                                   solution="1. 把U盘格式化为FAT32\n2. 重新插入扫描仪"), ensure_ascii=False)
            job = writer.post("/v1/imports", content=body.encode() + b"\n",
                              headers={"Content-Type": "application/x-ndjson"}).json()["id"]
            for _ in range(200):  # any worker of the writer server can report the job
                j = writer.get(f"/v1/imports/{job}").json()
                if j["status"] == "done":
                    break
                time.sleep(0.1)
            assert j["status"] == "done" and j["summary"]["added"] == 1
        hits = reader.post("/v1/search", json={"query": "扫描仪无法识别U盘", "k": 1, "explain": True}).json()["results"]
        assert hits[0]["id"] == "C-NEW"
        # found by the dense retrievers too, not only by the reloaded keyword index
        assert {"question", "keyword"} <= set(hits[0]["explain"]["ranks"])
        a = reader.post("/v1/ask", json={"question": "扫描仪无法识别U盘怎么办"}).json()
        assert "C-NEW" in {c["id"] for c in a["citations"]}


def _workers_of(pid: int) -> list[int]:
    """The worker processes ``casepilot serve`` started (Linux /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmd = (d / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and b"spawn_main" in cmd:
            out.append(int(d.name))
    return out


def _established(pid: int, port: int) -> int:
    """Established TCP connections to ``port`` that process ``pid`` holds."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "01" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        held += link.startswith("socket:[") and link[8:-1] in inodes
    return held


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads connections on Linux")
def test_the_workers_share_kept_alive_connections(tmp_path: Path) -> None:
    """Each worker listens on its own SO_REUSEPORT socket. With uvicorn's one shared socket, 20
    kept-alive clients were split 16 / 4, 18 / 2, even 20 / 0, and the busy worker's clients waited."""
    p, url = serve(tmp_path / "home", 2)
    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(20)]
    try:
        for c in clients:
            try:
                assert c.get("/healthz").status_code == 200
            except httpx.HTTPError as e:  # a worker died: show why
                p.terminate()
                raise AssertionError(f"{e!r}; the server said: {p.communicate(timeout=20)[1].decode()[-3000:]}") from e
        workers = _workers_of(p.pid)
        assert len(workers) == 2
        held = [_established(w, int(url.rsplit(":", 1)[1])) for w in workers]
        assert sum(held) == 20 and min(held) >= 3, held  # a 2 / 18 split by chance: 4 in 10,000
    finally:
        for c in clients:
            c.close()
        p.terminate()
        p.wait(15)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the workers follow their parent on Linux")
def test_the_workers_stop_when_serve_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves the parent no chance to stop its workers; they must not go on holding the port."""
    import signal

    p, url = serve(tmp_path / "home", 2)
    workers = _workers_of(p.pid)
    assert len(workers) == 2
    p.send_signal(signal.SIGKILL)
    p.wait(15)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{w}").exists() for w in workers)
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=5)


def test_serve_says_when_its_port_is_taken(tmp_path: Path) -> None:
    import socket

    taken = socket.socket()  # another program's port, without SO_REUSEPORT
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        r = subprocess.run([sys.executable, "-m", "api.cli", "serve", "--workers", "2", "--port", str(port)],
                           env={**os.environ, **ENV, "CASEPILOT_HOME": str(tmp_path)},
                           capture_output=True, text=True, timeout=60)
    finally:
        taken.close()
    assert r.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in r.stderr
    assert "Address already in use" in r.stderr and "Traceback" not in r.stderr


def test_concurrent_reads_equal_serial_reads(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h", embedder="hash", passage_embedder="hash", abstain_below=0.0)
    tenants = Tenants(settings)
    t = tenants.get("default")
    Ingestor(t.library).ingest_paths([write_jsonl(tmp_path / "a.jsonl", [
        case(f"C-{i}", title, problem=f"{title}，客户很着急。") for i, title in enumerate(
            ["打印机连不上WiFi", "账单重复扣费", "快递延误三天", "APP登录收不到验证码", "智能门锁离线", "发票抬头开错",
             "打印机卡纸", "退款被拒绝"])])])
    questions = ["打印机连不上网", "每月被扣两次费", "包裹三天没到", "验证码收不到", "门锁连不上网", "发票开错了",
                 "卡纸怎么办", "退款申请被拒"] * 4

    def one(q: str) -> tuple[list[str], str, list[str]]:
        with t.read() as lib:
            hits = [h.id for h in lib.search(q, 5)]
            a = t.assistant.ask(q)
        return hits, a.answer, [c.id for c in a.citations]

    serial = [one(q) for q in questions]
    with ThreadPoolExecutor(8) as ex:
        parallel = list(ex.map(one, questions))
    assert parallel == serial
    tenants.close()


def test_a_read_checks_index_sync_once_and_searches_outside_a_read_still_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside ``Tenant.read`` (which checked on entry) a search does not check again; outside one,
    and after a read left on another thread (a stream's), it does."""
    import threading

    settings = Settings(home=tmp_path / "home", embedder="hash", passage_embedder="hash")
    tenants = Tenants(settings)
    try:
        tenant = tenants.get("default")
        Ingestor(tenant.library).ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1")])])
        with tenant.read():
            pass  # the tenant catches up with the import (it reopens the indexes)
        checks: list[str] = []
        real = tenant.library.indexes.check
        monkeypatch.setattr(tenant.library.indexes, "check", lambda: (checks.append("check"), real())[1])
        with tenant.read() as lib:
            assert [h.id for h in lib.search("打印机连不上网", 3)] == ["C-1"]
            lib.search("打印机", 3)
        assert checks == ["check"]  # on entering the read, not again per search
        tenant.library.search("打印机", 3)
        assert checks == ["check", "check"]  # a search outside a read checks for itself

        reading = tenant.read()
        reading.__enter__()
        left = threading.Thread(target=reading.__exit__, args=(None, None, None))
        left.start()
        left.join()
        tenant.library.search("打印机", 3)  # this thread's read was closed elsewhere: it checks again
        assert checks == ["check", "check", "check", "check"]
    finally:
        tenants.close()

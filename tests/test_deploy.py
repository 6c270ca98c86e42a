"""The steps of docs/deploy.md, run on loopback: API hosts behind nginx with the shipped
``docs/deploy/nginx.conf`` (least connections), and a backup of PostgreSQL restored into a new
database, with a new Chroma server and new homes, brought back by ``casepilot reindex --all-tenants``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from evals.throwaway import PostgresCluster, free_port
from tests.chroma_server import start_chroma
from tests.conftest import ROOT, case, write_jsonl
from tests.hosts import ENV, Host, import_, new_key, search

NGINX_CONF = ROOT / "docs" / "deploy" / "nginx.conf"


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        why = "nginx is not installed (Debian's nginx-light, as .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the deployment test must run in CI: {why}")
        pytest.skip(why)
    return found


@pytest.fixture
def proxy(tmp_path: Path, postgres: PostgresCluster) -> Iterator[dict[str, Any]]:
    nginx = _nginx()
    url = postgres.database()
    chroma = start_chroma(tmp_path / "chroma")
    hosts = [Host(tmp_path / f"host-{n}", url, chroma.url) for n in range(2)]
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    prefix.chmod(0o777)  # nginx's workers (nobody, when started as root) keep their temporary files here
    port = free_port()
    conf = NGINX_CONF.read_text()
    conf = re.sub(r"(?m)^\s*server 127\.0\.0\.1:\d+ (.*)$", "", conf)  # the example's two hosts ...
    servers = "".join(f"        server 127.0.0.1:{h.port} max_fails=3 fail_timeout=10s;\n" for h in hosts)
    conf = conf.replace("        least_conn;\n", "        least_conn;\n" + servers)  # ... become ours
    conf = conf.replace("listen 127.0.0.1:8000;", f"listen 127.0.0.1:{port};")
    (prefix / "nginx.conf").write_text(conf)
    globals_ = f"pid {prefix}/nginx.pid; error_log {prefix}/error.log;"
    try:
        for h in hosts:
            h.start()
        subprocess.run([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", globals_], check=True)
        yield {"url": f"http://127.0.0.1:{port}", "hosts": hosts, "db": url}
    finally:
        subprocess.run([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", globals_, "-s", "stop"],
                       check=False, capture_output=True)
        for h in hosts:
            h.stop()
        chroma.stop()


def _requests_served(host: Host) -> float:
    text = httpx.get(host.url + "/metrics", timeout=30).text
    return sum(float(m) for m in re.findall(r'casepilot_http_requests_total\{[^}]*route="/v1/search"[^}]*\} ([0-9.e+]+)',
                                            text))


def test_hosts_behind_nginx_least_connections(proxy: dict[str, Any]) -> None:
    url, (a, b) = proxy["url"], proxy["hosts"]
    r = import_(url, [case("C-1", "打印机卡纸怎么办"), case("C-2", "冷库温度报警怎么处理", product="冷链")],
                new_key(proxy["db"]))
    assert r.status_code == 200, r.text
    keys = [new_key(proxy["db"], "agent") for _ in range(4)]  # 4 keys x 4 searches: within each key's burst

    def one(n: int) -> list[str]:
        return search(url, "冷库温度报警", keys[n % 4])

    with ThreadPoolExecutor(8) as pool:
        assert all(hits[0] == "C-2" for hits in pool.map(one, range(16)))
    assert _requests_served(a) > 0 and _requests_served(b) > 0  # both hosts served searches

    a.kill()  # a host that is down: nginx sends its requests to the other
    assert search(url, "打印机卡纸", new_key(proxy["db"], "agent"))[0] == "C-1"


def _cli(home: Path, db: str, chroma: str, *args: str) -> tuple[int, str]:
    """``casepilot ARGS`` in this process (as a host of that home, database and Chroma server)."""
    import contextlib
    import io

    from api.cli import main

    env = {**ENV, "CASEPILOT_HOME": str(home), "CASEPILOT_DATABASE_URL": db, "CASEPILOT_CHROMA_URL": chroma}
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(out):
        for k, v in env.items():
            mp.setenv(k, v)
        code = main(list(args))
    return code, out.getvalue()


def _ids(out: str) -> list[str]:
    return [h["id"] for h in json.loads(out)["results"]]


def test_a_backup_restored_into_a_new_database_is_brought_back_by_reindex(tmp_path: Path,
                                                                           postgres: PostgresCluster) -> None:
    db = postgres.database()
    first = start_chroma(tmp_path / "chroma")
    try:
        for tenant, records in {"default": [case("C-1", "打印机卡纸怎么办"), case("C-2", "冷库温度报警怎么处理")],
                                "team-b": [case("B-1", "扫码枪无法识别条码"), case("B-2", "冷库门关不上")]}.items():
            code, _ = _cli(tmp_path / "home", db, first.url, "ingest",
                           str(write_jsonl(tmp_path / f"{tenant}.jsonl", records)), "--tenant", tenant)
            assert code == 0
        before = {t: _ids(_cli(tmp_path / "home", db, first.url, "search", "冷库", "--tenant", t, "--json")[1])
                  for t in ("default", "team-b")}
        assert before["default"][0] == "C-2" and before["team-b"][0] == "B-2"
    finally:
        first.stop()
    # the backup: one pg_dump of the database; the restore: into a new database, with a new Chroma
    # server and a new home (the old vectors and keyword index are gone)
    dump = postgres.root / "casepilot.dump"
    name = db.rsplit("/", 1)[1]
    postgres.tool("pg_dump", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "casepilot", "-Fc", "-f", str(dump), name)
    restored = postgres.empty_database()
    postgres.tool("pg_restore", "-h", "127.0.0.1", "-p", str(postgres.port), "-U", "casepilot", "--no-owner",
                  "-d", restored.rsplit("/", 1)[1], str(dump))
    second = start_chroma(tmp_path / "chroma-new")
    try:
        code, out = _cli(tmp_path / "home-new", restored, second.url, "reindex", "--all-tenants")
        assert code == 0
        assert "default: reindexed 2 records" in out and "team-b: reindexed 2 records" in out, out
        after = {t: _ids(_cli(tmp_path / "home-new", restored, second.url, "search", "冷库", "--tenant", t,
                              "--json")[1]) for t in ("default", "team-b")}
        assert after == before
    finally:
        second.stop()

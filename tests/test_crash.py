"""kill -9 during an ingest leaves a state that the next run repairs."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from assistant.embeddings import HashEmbedder
from assistant.library import Library
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import assert_indexes_match_store, case, write_jsonl

N = 1200


def _cli(home: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "CASEPILOT_HOME": str(home), "CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash",
           "CASEPILOT_INGEST_BATCH_SIZE": "16"}
    return subprocess.Popen([sys.executable, "-m", "api.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_kill_during_ingest_then_next_run_repairs(tmp_path: Path) -> None:
    home = tmp_path / "home"
    src = write_jsonl(tmp_path / "big.jsonl", [
        case(f"C-{i:05d}", f"第{i}号案例：打印机无法连接无线网络", solution=f"步骤{i}：重启路由器。" * 5)
        for i in range(N)
    ])
    proc = _cli(home, "ingest", str(src), "--json")
    db = home / "casepilot.db"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        n = _count(db) if db.exists() else 0
        if 0 < n < N:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _count(db)
    assert 0 < killed_at < N

    # a reader first: search notices the indexes lag the store and repairs them
    search = _cli(home, "search", "打印机", "--json")
    out, err = search.communicate(timeout=120)
    assert search.returncode == 0, err
    assert json.loads(out)["results"]

    lib = Library(Settings(home=home, embedder="hash"), embedder=HashEmbedder())
    assert lib.indexes.in_sync()
    assert_indexes_match_store(lib)
    lib.close()

    # then the same import again completes the job: every record, nothing twice
    again = _cli(home, "ingest", str(src), "--json")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    summary = json.loads(out)
    assert summary["added"] == N - killed_at and summary["unchanged"] == killed_at

    lib = Library(Settings(home=home, embedder="hash"), embedder=HashEmbedder())
    assert len(lib.store.records(lib.tenant)) == N
    assert_indexes_match_store(lib)
    assert len(lib.vectors.ids()) == N  # one title a case in the question space
    lib.close()


def test_a_repair_in_the_same_process_loads_the_keyword_build_it_made(tmp_path: Path) -> None:
    """A keyword index that lost chunks at an unchanged generation is rebuilt by ``repair``, and this
    process then searches the new build: in sync, not repairing again on every read."""
    lib = Library(Settings(home=tmp_path / "home", embedder="hash"), embedder=HashEmbedder())
    Ingestor(lib).ingest_paths([write_jsonl(tmp_path / "c.jsonl", [case("C-1"), case("C-2", "发票抬头开错了")])])
    assert lib.indexes.in_sync()
    items = lib.store.chunk_tokens(lib.tenant)
    lib.keywords.rebuild(items[:-2], lib.keywords.generation)  # damaged, same generation
    assert len(lib.keywords.ids()) == len(items) - 2  # the damaged build is what this process holds
    report = lib.indexes.repair()
    assert report.keywords_rebuilt
    assert lib.indexes.in_sync()
    assert_indexes_match_store(lib)
    assert not lib.indexes.repair().changed
    lib.close()

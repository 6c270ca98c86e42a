from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from api.store import HttpStore
from assistant.store import CitationStats, Store
from assistant.store.schema import metadata
from assistant.store.store import _migrations_dir, make_engine, upgrade_schema
from evals.throwaway import PostgresCluster
from tests.conftest import BACKENDS


def _head() -> str:
    """The newest migration (so that adding one does not need this test edited)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", _migrations_dir())
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None and head >= "0007"
    return head


def _empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'old.db'}"
    server: PostgresCluster = request.getfixturevalue("postgres")
    return server.empty_database()


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_upgrade_an_existing_database_in_place(backend: str, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    url = _empty_url(backend, tmp_path, request)
    engine = make_engine(url)
    upgrade_schema(engine, "0001")  # a database created by the first release
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO records (tenant, id, kind, status, title, data, content_hash, version, deleted, "
            "created_at, updated_at) VALUES ('default', 'C-1', 'case', 'approved', '旧案例', :data, 'h', 1, false, "
            "'2024-01-01', '2024-01-01')"), {"data": json.dumps({"id": "C-1", "product": "HP-M227"})})
    engine.dispose()

    store = Store(url)  # opening upgrades to head
    rec = store.get("default", "C-1")
    assert rec is not None and rec.title == "旧案例" and rec.product == "HP-M227"
    assert store.generation("default") == 0 and store.chunks("default") == []
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == _head()
        if backend == "sqlite":
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    store.close()


def test_a_store_at_the_head_opens_without_alembic(tmp_path: Path) -> None:
    """The scripts' head is read as alembic reads it; a database already there is opened without
    importing alembic, and one behind it is still upgraded."""
    import subprocess
    import sys

    from assistant.store.engine import _script_head

    assert _script_head() == _head()
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Store(url).close()
    code = ("import sys; from assistant.store import Store; Store(sys.argv[1]).close(); "
            "print('alembic' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
    behind = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade_schema(behind, "0013")
    upgrade_schema(behind)  # one behind the head: alembic upgrades it
    with behind.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == _head()
    behind.dispose()


def test_migrated_schema_matches_the_table_definitions(db_url: str) -> None:
    store = Store(db_url)
    insp = sa.inspect(store.engine)
    for table in metadata.sorted_tables:
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}, table.name
        assert {i["name"] for i in insp.get_indexes(table.name)} == {i.name for i in table.indexes}, table.name
    store.close()


def test_failed_batch_writes_nothing(db_url: str) -> None:
    from assistant.store import RecordWrite

    store = Store(db_url)
    good = RecordWrite({"kind": "case", "id": "C-1", "title": "t", "status": "approved"}, "h1")
    broken = RecordWrite({"kind": "case", "id": "C-2", "title": "t", "status": "approved", "x": object()}, "h2")
    with pytest.raises(TypeError):
        store.write("default", [good, broken], actor="test")
    assert store.records("default") == [] and store.audit("default") == []
    store.close()


def test_citation_stats_count_exact_ids_only(db_url: str) -> None:
    store = Store(db_url)
    for n, cited in enumerate(["C-1", "c-1", "C_1", "CX1", "C-1"]):
        store.log_answer("t", {"id": f"a{n}", "ticket_id": None, "question": "q", "answer": "a",
                               "citations": json.dumps([{"id": cited, "quote": "x"}]), "abstained": False,
                               "support": 1.0, "engine": "extractive"})
    store.add_feedback("t", "a0", True)
    assert store.citation_stats("t", "C-1") == CitationStats(cited=2, helpful=1, not_helpful=0)
    assert store.citation_stats("t", "C_1").cited == 1
    assert store.citation_stats("other", "C-1").cited == 0
    store.close()


def test_get_many_reads_only_live_records_of_the_tenant(db_url: str) -> None:
    from assistant.store import RecordWrite

    store = Store(db_url)
    for tenant, rid in (("a", "C-1"), ("a", "C-2"), ("a", "C-3"), ("b", "C-4")):
        store.write(tenant, [RecordWrite({"kind": "case", "id": rid, "title": rid, "status": "approved"}, rid)],
                    actor="test")
    store.delete("a", ["C-2"], actor="test")
    got = store.get_many("a", ["C-1", "C-2", "C-4", "C-9"])
    assert sorted(got) == ["C-1"] and got["C-1"].title == "C-1"
    assert store.get_many("a", []) == {}
    store.set_state("a", "synced_generation", "7")
    assert store.get_states("a", ("synced_generation", "nope")) == {"synced_generation": "7"}
    assert store.get_states("b", ("synced_generation",)) == {}
    store.close()


def test_a_bot_event_is_claimed_once_per_window_and_expired_ones_are_pruned_once_a_minute(db_url: str) -> None:
    store = Store(db_url)
    bots = HttpStore(store)

    def rows() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM bot_events")).scalar() or 0)

    assert bots.claim_bot_event("ch", "ev-1", 10, now=1000.0)
    assert not bots.claim_bot_event("ch", "ev-1", 10, now=1005.0)  # a retry within the window
    assert bots.claim_bot_event("ch", "ev-2", 10, now=1005.0)
    # ev-1 expired at 1010: claimable again at once, though the sweep of all expired rows waits a minute
    assert bots.claim_bot_event("ch", "ev-1", 10, now=1020.0)
    assert bots.claim_bot_event("ch", "ev-3", 10, now=1030.0)
    assert rows() == 3  # ev-2 (expired at 1015) is still there: the last sweep was at 1000
    assert bots.claim_bot_event("ch", "ev-4", 10, now=1061.0)
    assert rows() == 1  # the sweep at 1061 took ev-1, ev-2, ev-3
    store.close()


def _open_store_after(barrier, url: str) -> None:  # runs in a child process
    barrier.wait(30)
    Store(url).close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_processes_opening_a_new_database_at_once_all_get_the_schema(backend: str, tmp_path: Path,
                                                                       request: pytest.FixtureRequest) -> None:
    """Server workers start together on a new home; each used to find no schema, and all but the
    first failed with "table records already exists"."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    url = _empty_url(backend, tmp_path, request)
    procs = [ctx.Process(target=_open_store_after, args=(barrier, url)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    store = Store(url, migrate=False)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == _head()
    store.close()


def test_keyword_tokens_are_read_back_as_one_string_object_per_distinct_token(tmp_path: Path, db_url: str) -> None:
    """The keyword rebuild reads every chunk's tokens at once; one object per distinct token keeps a
    large library's rebuild within memory (see ``Store.chunk_tokens``)."""
    from assistant.embeddings import HashEmbedder
    from assistant.library import Library
    from assistant.settings import Settings
    from ingestion.pipeline import Ingestor
    from tests.conftest import case, write_jsonl

    lib = Library(Settings(home=tmp_path / "home", embedder="hash", database_url=db_url), embedder=HashEmbedder())
    Ingestor(lib).ingest_paths([write_jsonl(tmp_path / "c.jsonl", [case("C-1", "打印机脱机"), case("C-2", "打印机卡纸")])])
    items = lib.store.chunk_tokens(lib.tenant)
    found = [tok for _, toks in items for tok in toks if tok == "打印机"]
    assert len(found) >= 2
    assert all(tok is found[0] for tok in found)
    lib.close()

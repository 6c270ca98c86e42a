"""Each tenant's taxonomy in the store: the upgrade of a home that kept one taxonomy.yaml, the reload
when another host stores one, the command line's export, and PUT /v1/taxonomy."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import create_key
from api.cli import main
from api.config import ApiSettings
from assistant.embeddings import HashEmbedder
from assistant.errors import InputError
from assistant.library import Library
from assistant.retrieval import KeywordRetriever
from assistant.settings import Settings
from assistant.store import Store
from assistant.store.store import make_engine, upgrade_schema
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl

OLD = "# 旧的标签体系\ndimensions:\n  产品线:\n    values:\n      打印机: {synonyms: [印表机]}\n      扫码枪: {}\n"
NEW = "dimensions:\n  产品线:\n    values:\n      打印机: {synonyms: [印表机, 复印一体机]}\n"


def _settings(home: Path, **kw: Any) -> Settings:
    return Settings(home=home, embedder="hash", passage_embedder="hash", **kw)


def test_a_home_with_one_taxonomy_file_gives_it_to_the_default_tenant_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    engine = make_engine(_settings(home).db_url)
    upgrade_schema(engine, "0008")  # a database made before taxonomies were stored
    engine.dispose()
    (home / "taxonomy.yaml").write_text(OLD, encoding="utf-8")
    lib = Library(_settings(home), embedder=HashEmbedder())
    assert lib.taxonomy is not None and lib.taxonomy.tags == ["产品线/打印机", "产品线/扫码枪"]
    stored = lib.stored_taxonomy()
    assert stored is not None and stored.source == OLD and stored.actor == "upgrade"
    assert stored.origin == str(home / "taxonomy.yaml")
    assert Library(_settings(home), "B", store=lib.store, embedder=HashEmbedder()).taxonomy is None
    (home / "taxonomy.yaml").write_text(NEW, encoding="utf-8")  # the file is no longer read
    again = Library(_settings(home), embedder=HashEmbedder())
    assert again.taxonomy is not None and again.taxonomy.tags == ["产品线/打印机", "产品线/扫码枪"]
    assert [e.actor for e in lib.store.audit("default", "#taxonomy")] == ["upgrade"]


def test_casepilot_taxonomy_seeds_the_default_tenant(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(NEW, encoding="utf-8")
    lib = Library(_settings(tmp_path / "home", taxonomy=seed), embedder=HashEmbedder())
    assert lib.taxonomy is not None and lib.taxonomy.tags == ["产品线/打印机"]
    assert lib.store.taxonomy_version("default") == 1


def test_a_broken_legacy_file_is_reported_not_stored(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "taxonomy.yaml").write_text("dimensions: [打印机\n", encoding="utf-8")
    lib = Library(_settings(home), embedder=HashEmbedder())
    with pytest.raises(InputError, match="invalid YAML"):
        _ = lib.taxonomy
    assert lib.store.taxonomy_version("default") == 0


def _synonyms(lib: Library) -> list[list[str]]:
    """The synonym groups the library's keyword retriever expands queries with."""
    hybrid = lib.retriever.chunk_retriever
    return next(p.synonym_groups for p in hybrid.parts if isinstance(p, KeywordRetriever))  # type: ignore[attr-defined]


def test_another_hosts_taxonomy_is_seen_within_the_refresh_bound_and_by_search(tmp_path: Path, db_url: str) -> None:
    url = None if db_url.startswith("sqlite") else db_url  # SQLite: the home's; else two homes on one PostgreSQL
    one = Library(_settings(tmp_path / "home", taxonomy_refresh_seconds=1.0, database_url=url), "A",
                  embedder=HashEmbedder())
    two = Library(_settings(tmp_path / ("home" if url is None else "home-b"), database_url=url), "A",
                  store=Store(one.settings.db_url), embedder=HashEmbedder())  # another host
    Ingestor(one).ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1", "打印机卡纸", problem="打印机卡纸了。")])])
    assert one.taxonomy is None and _synonyms(one) == []
    two.set_taxonomy(OLD, actor="test")
    assert one.taxonomy is None  # within the bound: what it read last
    time.sleep(1.1)
    assert one.taxonomy is not None and "产品线/扫码枪" in one.taxonomy.tags
    two.set_taxonomy(NEW, actor="test")
    time.sleep(1.1)
    assert one.taxonomy.tags == ["产品线/打印机"]
    assert ["印表机", "复印一体机", "打印机"] in _synonyms(one)  # the retriever was rebuilt with the new synonyms
    assert "C-1" in {h.id for h in one.search("复印一体机", 3)}
    one.set_taxonomy(OLD, actor="test")  # through this library's own store: seen at once
    assert "产品线/扫码枪" in one.taxonomy.tags


def test_the_command_line_imports_shows_and_exports_a_tenants_taxonomy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CASEPILOT_EMBEDDER", "hash")
    monkeypatch.setenv("CASEPILOT_PASSAGE_EMBEDDER", "hash")
    home = str(tmp_path / "home")
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(OLD, encoding="utf-8")
    new.write_text(NEW, encoding="utf-8")
    assert main(["tags", "taxonomy", "--home", home, "--tenant", "B"]) == 2  # reading never creates a home
    assert "no casepilot library at" in capsys.readouterr().err
    assert main(["ingest", "--kind", "taxonomy", str(old), "--home", home, "--tenant", "B", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["taxonomy"] == "1 dimensions, 2 values → tenant B (version 1)"
    assert main(["ingest", "--kind", "taxonomy", str(new), "--home", home, "--tenant", "B"]) == 0
    assert "taxonomy: 1 dimensions, 1 values → tenant B (version 2)" in capsys.readouterr().out
    out = tmp_path / "export.yaml"
    assert main(["tags", "taxonomy", "--home", home, "--tenant", "B", "--export", str(out), "--version", "1"]) == 0
    assert out.read_text(encoding="utf-8") == OLD  # as imported, comment and all
    assert "exported to" in capsys.readouterr().out
    assert main(["tags", "taxonomy", "--home", home, "--tenant", "B", "--export", "-"]) == 0
    assert capsys.readouterr().out == NEW
    assert main(["tags", "taxonomy", "--home", home, "--tenant", "B", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["tenant"], shown["version"], shown["dimensions"]) == ("B", 2, {"产品线": ["打印机"]})
    assert shown["origin"] == str(new) and shown["exported"] is None
    assert main(["tags", "taxonomy", "--home", home]) == 1  # the default tenant has none of B's
    assert "tenant default has no taxonomy; import one with: casepilot ingest --kind taxonomy FILE --tenant default" \
        in capsys.readouterr().err
    capsys.readouterr()


def test_put_taxonomy(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    store = app.state.casepilot.store
    key = create_key(app.state.casepilot.http, "A", "admin")["key"]
    Ingestor(Library(settings, "A", store=store)).ingest_paths([write_jsonl(tmp_path / "a.jsonl", [
        case("C-1", "扫码枪无法识别条码", tags=["产品线/扫码枪"])])])
    yaml_type = {"Authorization": f"Bearer {key}", "Content-Type": "application/yaml"}
    with TestClient(app) as c:
        assert c.get("/v1/taxonomy", headers=yaml_type).json() == {"version": 0, "dimensions": []}
        r = c.put("/v1/taxonomy", content=OLD.encode(), headers=yaml_type)
        assert r.status_code == 200 and (r.json()["version"], r.json()["changed"]) == (1, True), r.text
        again = c.put("/v1/taxonomy", content=OLD.encode(), headers=yaml_type).json()
        assert (again["version"], again["changed"], again["warnings"]) == (1, False, [])
        r = c.put("/v1/taxonomy", content=NEW.encode(), headers=yaml_type)
        assert r.json()["warnings"] == ["产品线/扫码枪: the new taxonomy drops this value, which 1 of the tenant's "
                                        "records carry"]
        got = c.get("/v1/taxonomy", headers=yaml_type).json()
        assert got["version"] == 2 and got["dimensions"][0]["values"][0]["synonyms"] == ["印表机", "复印一体机"]
        as_json = c.put("/v1/taxonomy", json={"dimensions": {"渠道": {"values": {"电话": {}}}}},
                        headers={"Authorization": f"Bearer {key}"})
        assert as_json.status_code == 200 and as_json.json()["version"] == 3
        bad = c.put("/v1/taxonomy", content="dimensions:\n  产品线: [打印机\n".encode(), headers=yaml_type)
        assert bad.status_code == 400 and bad.json()["code"] == "malformed_body" and bad.json()["line"] == 3, bad.text
        wrong = c.put("/v1/taxonomy", content=b"dimensions:\n  a/b: {values: {x: {}}}\n", headers=yaml_type)
        assert wrong.status_code == 422 and wrong.json()["field"] == "dimensions.a/b", wrong.text
        empty = c.put("/v1/taxonomy", content=b"  \n", headers=yaml_type)
        assert empty.status_code == 422
        xml = c.put("/v1/taxonomy", content=b"<x/>", headers={**yaml_type, "Content-Type": "application/xml"})
        assert xml.status_code == 415
    assert store.taxonomy_version("A") == 3
    assert [e.actor.startswith("api:") for e in store.audit("A", "#taxonomy")] == [True, True, True]
    with store.engine.connect() as conn:  # a refused body stored nothing
        assert conn.execute(sa.text("select count(*) from taxonomies")).scalar() == 3

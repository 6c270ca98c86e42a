"""Tenants see only their own data, through every route of the application.

The regression of issue 22 item 5 first: every tenant of a home shared one ``taxonomy.yaml``, so
``GET /v1/taxonomy`` with another tenant's admin key returned the default tenant's product lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import create_key
from api.cli import main
from api.config import ApiSettings
from assistant.settings import Settings

DEFAULT_TAXONOMY = """dimensions:
  产品线:
    values:
      保密产品线: {synonyms: [机密同义词], description: 只属于默认租户的描述}
"""
B_TAXONOMY = """dimensions:
  产品线:
    values:
      冷链: {synonyms: [cold chain], description: B租户自己的产品线}
"""


def _tags(body: dict) -> set[str]:
    return {v["tag"] for d in body["dimensions"] for v in d["values"]}


def test_another_tenants_admin_key_never_reads_the_default_tenants_taxonomy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEPILOT_EMBEDDER", "hash")
    monkeypatch.setenv("CASEPILOT_PASSAGE_EMBEDDER", "hash")
    home = tmp_path / "home"
    (tmp_path / "default.yaml").write_text(DEFAULT_TAXONOMY, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(B_TAXONOMY, encoding="utf-8")
    assert main(["ingest", "--kind", "taxonomy", str(tmp_path / "default.yaml"), "--home", str(home)]) == 0
    # the command line below is another process, whose write the API sees within taxonomy_refresh_seconds
    settings = Settings(home=home, embedder="hash", passage_embedder="hash", taxonomy_refresh_seconds=0)
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    store = app.state.casepilot.store
    keys = {t: create_key(store, t, "admin")["key"] for t in ("default", "B")}
    with TestClient(app) as c:
        def taxonomy(tenant: str) -> dict:
            r = c.get("/v1/taxonomy", headers={"Authorization": f"Bearer {keys[tenant]}"})
            assert r.status_code == 200, r.text
            return dict(r.json())

        assert _tags(taxonomy("default")) == {"产品线/保密产品线"}
        leaked = taxonomy("B")
        assert leaked["dimensions"] == [], leaked  # B imported none: it has none
        assert "保密" not in str(leaked) and "只属于默认租户" not in str(leaked)
        # B's own import is B's alone, and leaves the default tenant's as it was
        assert main(["ingest", "--kind", "taxonomy", str(tmp_path / "b.yaml"), "--home", str(home),
                     "--tenant", "B"]) == 0
        assert _tags(taxonomy("B")) == {"产品线/冷链"}
        assert _tags(taxonomy("default")) == {"产品线/保密产品线"}

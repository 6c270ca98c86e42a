"""The HTTP side of the ratings' prior, against a real uvicorn on loopback: a rating names its key,
an opened record is kept per tenant, and ratings move the search of their own tenant only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.library import Library
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl
from tests.test_api import Server, is_problem

QUESTION = "打印机连不上WiFi怎么办"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("ratings-api")
    settings = Settings(home=d / "home", embedder="hash", passage_embedder="hash", abstain_below=0.0,
                        ingest_batch_size=8, rating_prior=True, rating_prior_refresh_seconds=0)
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    st = app.state.casepilot
    keys = {f"{t}-{n}": create_key(st.http, t, "agent", f"{t} agent {n}") for t in ("A", "B") for n in range(3)}
    cases = [case("C-1", "打印机连不上WiFi：路由器只开了5GHz"), case("C-2", "打印机连不上WiFi：驱动需要重装"),
             case("C-3", "发票抬头开错了：作废后重开", tags=["产品线/计费系统"]),
             case("C-DRAFT", "打印机连不上WiFi的草稿", status="in_review")]
    for tenant in ("A", "B"):
        Ingestor(Library(settings, tenant, store=st.store)).ingest_paths([write_jsonl(d / f"{tenant}.jsonl", cases)])
    with Server(app) as srv:
        yield {"url": srv.url, "keys": keys, "store": st.store}


def client(env: dict[str, Any], who: str) -> httpx.Client:
    return httpx.Client(base_url=env["url"], headers={"Authorization": f"Bearer {env['keys'][who]['key']}"},
                        timeout=60)


def search(env: dict[str, Any], who: str, query: str = QUESTION) -> list[dict[str, Any]]:
    with client(env, who) as c:
        r = c.post("/v1/search", json={"query": query, "k": 3, "explain": True})
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


def test_ratings_and_opens_name_their_key_and_move_only_their_tenants_ranking(env: dict[str, Any]) -> None:
    before_a, before_b = search(env, "A-0"), search(env, "B-0")
    assert all("prior" not in h["explain"] for h in before_a + before_b)
    with client(env, "A-0") as c:
        answer = c.post("/v1/ask", json={"question": QUESTION}).json()
    cited = answer["citations"][0]["id"]
    for n in range(3):  # three agents rate the answer
        with client(env, f"A-{n}") as c:
            r = c.post(f"/v1/answers/{answer['id']}/feedback", json={"helpful": True})
        assert r.status_code == 201 and r.json()["rater"] == f"api:{env['keys'][f'A-{n}']['id']}"
    other = next(h["id"] for h in before_a if h["id"] != cited)
    with client(env, "A-1") as c:
        r = c.post(f"/v1/answers/{answer['id']}/opened", json={"record_id": other})
        assert r.status_code == 201, r.text
        assert r.json()["record_id"] == other and r.json()["rater"] == f"api:{env['keys']['A-1']['id']}"
        is_problem(c.post(f"/v1/answers/{answer['id']}/opened", json={"record_id": "C-404"}), 404, "not_found")
        is_problem(c.post(f"/v1/answers/{answer['id']}/opened", json={"record_id": "C-DRAFT"}), 404, "not_found")
        is_problem(c.post("/v1/answers/nope/opened", json={"record_id": "C-1"}), 404, "not_found")
        is_problem(c.post(f"/v1/answers/{answer['id']}/opened", json={"record_id": "C-1", "x": 1}), 422)
    with client(env, "B-0") as c:  # A's answer is unknown to B's keys
        is_problem(c.post(f"/v1/answers/{answer['id']}/opened", json={"record_id": "C-1"}), 404, "not_found")
        is_problem(c.post(f"/v1/answers/{answer['id']}/feedback", json={"helpful": False}), 404, "not_found")

    after_a = {h["id"]: h for h in search(env, "A-2")}
    assert after_a[cited]["explain"]["prior"]["raters"] == 3 and after_a[cited]["explain"]["prior"]["factor"] > 1
    assert after_a[cited]["score"] > next(h for h in before_a if h["id"] == cited)["score"]
    assert after_a[other]["explain"]["prior"]["net"] == 0.25
    assert search(env, "B-0") == before_b  # B's ranking is exactly what it was
    assert all("prior" not in h["explain"] for h in search(env, "A-0", "发票抬头开错了怎么重开"))
    assert env["store"].opens("B") == [] and [o.record_id for o in env["store"].opens("A")] == [other]

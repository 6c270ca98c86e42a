"""Tenants see only their own data, through every route of the application.

The regression of issue 22 item 5 first: every tenant of a home shared one ``taxonomy.yaml``, so
``GET /v1/taxonomy`` with another tenant's admin key returned the default tenant's product lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from api.app import create_app
from api.auth import create_key
from api.bots import add_channel
from api.cli import main
from api.config import ApiSettings
from assistant.curated import CuratedAnswers
from assistant.gaps import cluster_key
from assistant.library import Library
from assistant.review import Review
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl

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
    keys = {t: create_key(app.state.casepilot.http, t, "admin")["key"] for t in ("default", "B")}
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


# ---- every route of the application, by role and tenant ---------------------------------------------
#
# CASES holds one entry per route (method, path template) of the app, built the way tests/test_api.py
# builds it: the role a key needs (or "public", or "signature" for the chat platforms' webhooks, which
# take no API key), the request, made with tenant A's ids, and what tenant B's admin key must get back
# from it. A route without an entry fails test_every_route_has_a_case, naming the route.

A_ONLY = "碎纸机吞卡"  # the query words that find A's case (they are not themselves a secret)
A_SECRETS = ("反转取出卡片甲", "甲机密产品线", "甲机密描述", "甲租户没答上的问题", "甲租户工单内容", "甲租户被标记的承诺")
A_TAXONOMY = """dimensions:
  产品线:
    values:
      甲机密产品线: {synonyms: [碎纸机], description: 甲机密描述}
"""
LOWER = {"agent": (), "reviewer": ("agent",), "admin": ("agent", "reviewer")}
Req = dict[str, Any]
Check = Callable[[httpx.Response, dict[str, Any]], None]


@dataclass(frozen=True)
class Case:
    role: str  # agent | reviewer | admin | public | signature
    request: Callable[[dict[str, Any]], Req]  # {"path", and any of "json", "content", "headers", "params"}
    status: int | tuple[int, ...]  # what tenant B's admin key gets
    isolation: str  # why that keeps A's data from B, for the reader
    after: Check | None = None  # a further check on B's response, or on A's data afterwards


def _a_markers(env: dict[str, Any], c: Case) -> list[str]:
    """Strings of tenant A's data that no response to tenant B may hold; an id the request itself
    names may come back in the refusal ("no case 'CA-SECRET-1' in this tenant")."""
    sent = json.dumps(c.request(env), ensure_ascii=False, default=lambda b: b.decode())
    return [m for m in (*A_SECRETS, "CA-SECRET-1", "CA-OLD", "TA-SECRET", env["a_draft"], env["a_answer"],
                        env["a_job"], *env["a_key_ids"]) if m not in sent]


def _a_case_unchanged(r: httpx.Response, env: dict[str, Any]) -> None:
    rec = env["store"].get("A", "CA-SECRET-1")
    assert rec is not None and rec.status == "approved" and rec.version == 1


def _a_draft_unchanged(r: httpx.Response, env: dict[str, Any]) -> None:
    rec = env["store"].get("A", env["a_draft"])
    assert rec is not None and rec.status == "in_review" and rec.version == 1


def _a_taxonomy_unchanged(r: httpx.Response, env: dict[str, Any]) -> None:
    assert env["store"].taxonomy_version("A") == 1 and "甲机密产品线" in env["store"].taxonomy("A").source
    assert r.json()["dimensions"][0]["values"][0]["value"] == "冷链"  # B replaced its own


def _a_ticket_unchanged(r: httpx.Response, env: dict[str, Any]) -> None:
    rec = env["store"].get("A", "TA-SECRET")
    assert rec is not None and rec.version == 1 and env["store"].get("B", "TA-SECRET") is not None


def _a_key_still_works(r: httpx.Response, env: dict[str, Any]) -> None:
    assert env["c"].get("/v1/me", headers=_auth(env, "A-agent")).json()["tenant"] == "A"


def _made_in_b(r: httpx.Response, env: dict[str, Any]) -> None:
    assert r.json()["tenant"] == "B"


def _imported_into_b(r: httpx.Response, env: dict[str, Any]) -> None:
    assert env["store"].get("B", "CB-IMPORTED") is not None and env["store"].get("A", "CB-IMPORTED") is None


def _feedback_unchanged(r: httpx.Response, env: dict[str, Any]) -> None:
    assert env["store"].feedback("A", answer_id=env["a_answer"]) == [] and env["store"].feedback("B") == []


def _no_gap_draft(r: httpx.Response, env: dict[str, Any]) -> None:
    key = cluster_key("甲租户没答上的问题")
    assert env["store"].get("A", f"GD-{key}") is None and env["store"].get("B", f"GD-{key}") is None


def _a_curated_unchanged(r: httpx.Response, env: dict[str, Any]) -> None:
    c = env["store"].curated_answer("A", "CA-2")
    assert c is not None and c.version == 1 and c.status == "active"


def _opens_unchanged(r: httpx.Response, env: dict[str, Any]) -> None:
    assert env["store"].opens("A") == [] and env["store"].opens("B") == []


def _says_b(r: httpx.Response, env: dict[str, Any]) -> None:
    assert r.json()["tenant"] == "B"


def _bot(platform: str, kind: str = "events", method: str = "post") -> Case:
    return Case("signature", lambda env: {"path": f"/bots/{platform}/{env['a_channels'][platform]}/{kind}",
                                          "content": b'{"type": "event_callback"}',
                                          "headers": {"Content-Type": "application/json"}},
                (400, 401), "no API key opens a webhook: the platform's signature of the channel's secret does, and "
                "the channel names its one tenant; unsigned, any key is refused before the body is read")


CASES: dict[tuple[str, str], Case] = {
    ("GET", "/openapi.json"): Case("public", lambda env: {"path": "/openapi.json"}, 200,
                                   "the document describes the API; it holds no tenant's data"),
    ("GET", "/healthz"): Case("public", lambda env: {"path": "/healthz"}, 200, "liveness only"),
    ("GET", "/readyz"): Case("public", lambda env: {"path": "/readyz"}, 200, "readiness only"),
    ("GET", "/metrics"): Case("public", lambda env: {"path": "/metrics"}, 200,
                              "counts per route template and status; no tenant, record or question"),
    ("GET", "/"): Case("public", lambda env: {"path": "/", "follow_redirects": False}, 307,
                       "a redirect to the console"),
    ("GET", "/console"): Case("public", lambda env: {"path": "/console/"}, 200,
                              "the console's own static files; it reads data through the keyed routes"),
    ("POST", "/v1/ask"): Case("agent", lambda env: {"path": "/v1/ask", "json": {"question": f"{A_ONLY}怎么处理"}},
                              200, "answers from the key's tenant's library only"),
    ("POST", "/v1/chat"): Case("agent", lambda env: {"path": "/v1/chat", "json": {
        "ticket_id": "TA-SECRET", "question": f"{A_ONLY}怎么处理"}}, 404,
        "a conversation is the key's tenant's ticket thread: A's ticket of the same id is unknown to B"),
    ("POST", "/v1/answers/{answer_id}/feedback"): Case(
        "agent", lambda env: {"path": f"/v1/answers/{env['a_answer']}/feedback", "json": {"helpful": False}}, 404,
        "an answer id is looked up in the key's tenant", _feedback_unchanged),
    ("POST", "/v1/answers/{answer_id}/opened"): Case(
        "agent", lambda env: {"path": f"/v1/answers/{env['a_answer']}/opened", "json": {"record_id": "CA-SECRET-1"}},
        404, "an answer id and the opened record are looked up in the key's tenant", _opens_unchanged),
    ("GET", "/v1/gaps"): Case("reviewer", lambda env: {"path": "/v1/gaps"}, 200,
                              "the key's tenant's unanswered questions only"),
    ("GET", "/v1/gaps/groups"): Case("reviewer", lambda env: {"path": "/v1/gaps/groups"}, 200,
                                     "the key's tenant's unanswered questions only, grouped"),
    ("GET", "/v1/answers/flagged"): Case("reviewer", lambda env: {"path": "/v1/answers/flagged"}, 200,
                                         "the key's tenant's flagged answers only, and its count"),
    ("POST", "/v1/gaps/groups/{key}/draft"): Case(
        "reviewer", lambda env: {"path": f"/v1/gaps/groups/{cluster_key('甲租户没答上的问题')}/draft"}, 404,
        "a group is looked for among the key's tenant's questions only", _no_gap_draft),
    ("GET", "/v1/curated"): Case("reviewer", lambda env: {"path": "/v1/curated", "params": {"retired": "true"}}, 200,
                                 "the key's tenant's curated answers only"),
    ("POST", "/v1/curated"): Case("reviewer", lambda env: {"path": "/v1/curated", "json": {
        "question": f"{A_ONLY}了怎么办", "answer": "乙租户的答案"}}, 201,
        "written into the key's tenant: A's curated answer to the same question is neither read nor changed",
        _a_curated_unchanged),
    ("GET", "/v1/curated/{curated_id}"): Case("reviewer", lambda env: {"path": "/v1/curated/CA-2"}, 404,
                                              "a curated answer is looked up in the key's tenant"),
    ("GET", "/v1/curated/{curated_id}/versions"): Case(
        "reviewer", lambda env: {"path": "/v1/curated/CA-2/versions"}, 404,
        "a curated answer is looked up in the key's tenant"),
    ("POST", "/v1/curated/{curated_id}/edit"): Case(
        "reviewer", lambda env: {"path": "/v1/curated/CA-2/edit", "json": {"answer": "乙改的"}}, 404,
        "a curated answer is looked up in the key's tenant", _a_curated_unchanged),
    ("POST", "/v1/curated/{curated_id}/retire"): Case(
        "reviewer", lambda env: {"path": "/v1/curated/CA-2/retire"}, 404,
        "a curated answer is looked up in the key's tenant", _a_curated_unchanged),
    ("POST", "/v1/search"): Case("agent", lambda env: {"path": "/v1/search", "json": {"query": A_ONLY}}, 200,
                                 "the key's tenant's indexes only"),
    ("GET", "/v1/cases/{record_id}"): Case("agent", lambda env: {"path": "/v1/cases/CA-SECRET-1"}, 404,
                                           "a record id is looked up in the key's tenant"),
    ("POST", "/v1/imports"): Case("admin", lambda env: {
        "path": "/v1/imports", "params": {"wait": "true"}, "headers": {"Content-Type": "application/x-ndjson"},
        "content": json.dumps(case("CB-IMPORTED", "B导入的案例"), ensure_ascii=False).encode()}, 200,
        "an import writes into the key's tenant", _imported_into_b),
    ("GET", "/v1/imports/{job_id}"): Case("admin", lambda env: {"path": f"/v1/imports/{env['a_job']}"}, 404,
                                          "a job id is looked up in the key's tenant"),
    ("POST", "/v1/cases/{record_id}/archive"): Case(
        "admin", lambda env: {"path": "/v1/cases/CA-SECRET-1/archive"}, 404,
        "the case is looked up in the key's tenant", _a_case_unchanged),
    ("GET", "/v1/cases/{record_id}/versions"): Case(
        "agent", lambda env: {"path": "/v1/cases/CA-SECRET-1/versions"}, 404,
        "a record's history is looked up in the key's tenant"),
    ("GET", "/v1/cases/{record_id}/diff"): Case(
        "agent", lambda env: {"path": "/v1/cases/CA-SECRET-1/diff", "params": {"from": 1, "to": 1}}, 404,
        "a record's versions are looked up in the key's tenant"),
    ("POST", "/v1/cases/{record_id}/restore"): Case(
        "reviewer", lambda env: {"path": "/v1/cases/CA-SECRET-1/restore", "json": {"version": 1}}, 404,
        "the case is looked up in the key's tenant", _a_case_unchanged),
    ("POST", "/v1/drafts"): Case("reviewer", lambda env: {"path": "/v1/drafts", "json": {"ticket_id": "TA-SECRET"}},
                                 404, "the ticket is looked up in the key's tenant"),
    ("POST", "/v1/tickets"): Case("reviewer", lambda env: {"path": "/v1/tickets", "json": {
        "kind": "ticket", "id": "TA-SECRET", "subject": "乙租户的同号工单", "status": "open",
        "messages": [{"id": "m1", "role": "customer", "text": "乙租户的问题"}]}}, 200,
        "a posted ticket lands in the key's tenant: A's ticket of the same id is neither read nor changed",
        _a_ticket_unchanged),
    ("GET", "/v1/review"): Case("reviewer", lambda env: {"path": "/v1/review"}, 200,
                                "the key's tenant's queue only"),
    ("GET", "/v1/review/stale"): Case("reviewer", lambda env: {"path": "/v1/review/stale"}, 200,
                                      "the key's tenant's approved cases only"),
    ("GET", "/v1/review/{case_id}"): Case("reviewer", lambda env: {"path": f"/v1/review/{env['a_draft']}"}, 404,
                                          "the case is looked up in the key's tenant"),
    ("POST", "/v1/review/{case_id}/approve"): Case(
        "reviewer", lambda env: {"path": f"/v1/review/{env['a_draft']}/approve", "json": {}}, 404,
        "the case is looked up in the key's tenant", _a_draft_unchanged),
    ("POST", "/v1/review/{case_id}/reject"): Case(
        "reviewer", lambda env: {"path": f"/v1/review/{env['a_draft']}/reject", "json": {"reason": "B拒绝"}}, 404,
        "the case is looked up in the key's tenant", _a_draft_unchanged),
    ("POST", "/v1/review/{case_id}/edit"): Case(
        "reviewer", lambda env: {"path": f"/v1/review/{env['a_draft']}/edit", "json": {"edits": {"title": "B改的"}}},
        404, "the case is looked up in the key's tenant", _a_draft_unchanged),
    ("POST", "/v1/review/{case_id}/merge"): Case(
        "reviewer", lambda env: {"path": f"/v1/review/{env['a_draft']}/merge", "json": {"into": "CA-SECRET-1"}},
        404, "both cases are looked up in the key's tenant", _a_draft_unchanged),
    ("POST", "/v1/tags/suggest"): Case("reviewer", lambda env: {"path": "/v1/tags/suggest", "json": {
        "text": f"{A_ONLY}，碎纸机坏了"}}, 200, "tags come from the key's tenant's taxonomy and records only"),
    ("GET", "/v1/keys"): Case("admin", lambda env: {"path": "/v1/keys"}, 200, "the key's tenant's keys only"),
    ("POST", "/v1/keys"): Case("admin", lambda env: {"path": "/v1/keys", "json": {"role": "agent"}}, 201,
                               "a key is made in the creating key's tenant; no body field names a tenant",
                               _made_in_b),
    ("DELETE", "/v1/keys/{key_id}"): Case("admin", lambda env: {"path": f"/v1/keys/{env['a_key_ids'][0]}"}, 404,
                                          "only the key's tenant's keys can be revoked", _a_key_still_works),
    ("POST", "/v1/chat/completions"): Case("agent", lambda env: {"path": "/v1/chat/completions", "json": {
        "model": "casepilot", "messages": [{"role": "user", "content": f"{A_ONLY}怎么处理"}]}}, 200,
        "answers from the key's tenant's library only"),
    ("GET", "/v1/models"): Case("agent", lambda env: {"path": "/v1/models"}, 200, "one fixed model; no data"),
    ("GET", "/v1/me"): Case("agent", lambda env: {"path": "/v1/me"}, 200, "the presented key itself", _says_b),
    ("GET", "/v1/taxonomy"): Case("agent", lambda env: {"path": "/v1/taxonomy"}, 200,
                                  "the key's tenant's taxonomy (issue 22 item 5: it was the home's)"),
    ("PUT", "/v1/taxonomy"): Case("admin", lambda env: {"path": "/v1/taxonomy", "content": B_TAXONOMY.encode(),
                                                        "headers": {"Content-Type": "application/yaml"}}, 200,
                                  "replaces the key's tenant's taxonomy only", _a_taxonomy_unchanged),
    ("GET", "/v1/cases/{record_id}/stats"): Case("agent", lambda env: {"path": "/v1/cases/CA-SECRET-1/stats"}, 404,
                                                 "the record is looked up in the key's tenant"),
    ("GET", "/v1/library/stats"): Case("reviewer", lambda env: {"path": "/v1/library/stats"}, 200,
                                       "counts over the key's tenant's answers only"),
    ("GET", "/v1/stats"): Case("reviewer", lambda env: {"path": "/v1/stats"}, 200,
                               "volume, rates and records of the key's tenant's answers and tickets only"),
    ("POST", "/bots/slack/{channel_id}/events"): _bot("slack"),
    ("POST", "/bots/slack/{channel_id}/interactions"): _bot("slack", "interactions"),
    ("POST", "/bots/feishu/{channel_id}/events"): _bot("feishu"),
    ("GET", "/bots/wecom/{channel_id}/callback"): _bot("wecom", "callback"),
    ("POST", "/bots/wecom/{channel_id}/callback"): _bot("wecom", "callback"),
    ("POST", "/bots/dingtalk/{channel_id}/events"): _bot("dingtalk"),
}


def _routes(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves; a mounted app (the console's files) as GET."""
    out: set[tuple[str, str]] = set()

    def visit(routes: Any) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # an included router (FastAPI >= 0.12x)
            if inner is not None:
                visit(inner.routes)
            elif isinstance(route, Mount):
                out.add(("GET", route.path))
            else:
                out.update((m, route.path) for m in getattr(route, "methods", None) or () if m != "HEAD")

    visit(app.routes)
    return out


def _auth(env: dict[str, Any], who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {env['keys'][who]}"} if who else {}


def _call(env: dict[str, Any], method: str, c: Case, who: str | None) -> httpx.Response:
    req = dict(c.request(env))
    headers = {**req.pop("headers", {}), **_auth(env, who)}
    follow = req.pop("follow_redirects", True)
    return env["c"].request(method, req.pop("path"), headers=headers, follow_redirects=follow, **req)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("isolation")
    settings = Settings(home=d / "home", embedder="hash", passage_embedder="hash", abstain_below=0.0,
                        taxonomy_refresh_seconds=0)
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    store = app.state.casepilot.store
    made = {f"{t}-{r}": create_key(app.state.casepilot.http, t, r, f"{t} {r}") for t in ("A", "B") for r in ("agent", "reviewer", "admin")}
    a = Library(settings, "A", store=store)
    a.set_taxonomy(A_TAXONOMY, actor="test")
    Ingestor(a).ingest_paths([write_jsonl(d / "a.jsonl", [
        case("CA-SECRET-1", f"{A_ONLY}怎么处理", problem=f"客户的{A_ONLY}，机器停止工作。",
             solution="1. 断电\n2. 反转取出卡片甲", tags=["产品线/甲机密产品线"]),
        case("CA-OLD", f"{A_ONLY}的旧办法", solution="1. 反转取出卡片甲", updated_at="2020-01-01"),
        {"kind": "ticket", "id": "TA-SECRET", "subject": f"{A_ONLY}了",
         "messages": [{"id": "m1", "role": "customer", "text": f"{A_ONLY}了，甲租户工单内容。"},
                      {"id": "m2", "role": "agent", "text": "请断电后反转取出卡片甲。"},
                      {"id": "m3", "role": "customer", "text": "好了，谢谢。"}]}])])
    _, a_draft = Review(a, writer=Ingestor).draft("TA-SECRET")
    store.log_answer("A", {"id": "a-gap-answer", "question": "甲租户没答上的问题", "answer": "", "citations": "[]",
                           "abstained": True, "support": 0.0, "engine": "extractive"})
    store.log_answer("A", {"id": "a-flagged-answer", "question": "退款多久到账", "answer": "甲租户被标记的承诺",
                           "citations": "[]", "abstained": False, "support": 0.5, "engine": "openai:x",
                           "promises": json.dumps([{"sentence": "甲租户被标记的承诺", "category": "refund", "label": "退款",
                                                    "reason": "uncited", "why": "", "source": "", "missing": []}],
                                                  ensure_ascii=False), "flagged": True})
    for q in (f"{A_ONLY}了怎么办", f"{A_ONLY}的旧办法还能用吗"):  # CA-1 and CA-2 (another tenant's first is CA-1)
        CuratedAnswers(a).add(q, "请断电后反转取出卡片甲。", "甲审核员")
    b = Library(settings, "B", store=store)
    Ingestor(b).ingest_paths([write_jsonl(d / "b.jsonl", [
        case("CB-1", "冷链疫苗运输温控报警", problem="冷链温控报警。", tags=["产品线/冷链"])])])
    channels = {p: add_channel(app.state.casepilot.http, p, "A", f"A {p}", values, "http://127.0.0.1:9")["id"] for p, values in {
        "slack": {"secret": "s" * 32, "bot_token": "xoxb-a"},
        "feishu": {"secret": "t" * 32, "app_id": "cli_a", "app_secret": "x" * 16},
        "wecom": {"secret": "w" * 16, "encrypt_key": "k" * 43, "app_id": "wwcorp", "app_secret": "y" * 16,
                  "agent_id": "1000002"},
        "dingtalk": {"secret": "d" * 32}}.items()}
    with TestClient(app) as c:
        env = {"c": c, "store": store, "keys": {k: v["key"] for k, v in made.items()}, "a_draft": a_draft,
               "a_key_ids": [made[f"A-{r}"]["id"] for r in ("agent", "reviewer", "admin")], "a_channels": channels}
        asked = c.post("/v1/ask", json={"question": f"{A_ONLY}怎么处理"}, headers=_auth(env, "A-agent")).json()
        assert "CA-SECRET-1" in {x["id"] for x in asked["citations"]}, asked
        job = c.post("/v1/imports", params={"wait": "true"}, headers={**_auth(env, "A-admin"),
                     "Content-Type": "application/x-ndjson"},
                     content=json.dumps(case("CA-JOB", "甲的导入"), ensure_ascii=False).encode()).json()
        yield {**env, "a_answer": asked["id"], "a_job": job["id"]}


def test_every_route_has_a_case(env: dict[str, Any]) -> None:
    served = _routes(env["c"].app)
    missing = sorted(served - set(CASES))
    assert not missing, ("routes without a tenant-isolation case in tests/test_tenant_isolation.py CASES (say the "
                         "role they need and what another tenant's key gets): "
                         + ", ".join(f"{m} {p}" for m, p in missing))
    gone = sorted(set(CASES) - served)
    assert not gone, "cases for routes the app no longer serves: " + ", ".join(f"{m} {p}" for m, p in gone)


ROUTES = sorted(CASES)
IDS = [f"{m} {p}" for m, p in ROUTES]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=IDS)
def test_without_a_key(env: dict[str, Any], method: str, path: str) -> None:
    c = CASES[(method, path)]
    r = _call(env, method, c, None)
    if c.role == "public":
        assert r.status_code == c.status, r.text
    elif c.role == "signature":  # refused by the platform check, not by the API's key check
        assert r.status_code in (400, 401) and "WWW-Authenticate" not in r.headers, r.text
    else:
        assert r.status_code == 401 and r.json()["code"] == "unauthenticated", r.text
    _no_a_data_unless_a(r, env, c)


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if CASES[r].role in LOWER],
                         ids=[i for r, i in zip(ROUTES, IDS, strict=True) if CASES[r].role in LOWER])
def test_a_key_of_too_low_a_role(env: dict[str, Any], method: str, path: str) -> None:
    c = CASES[(method, path)]
    for role in LOWER[c.role]:
        r = _call(env, method, c, f"A-{role}")
        assert r.status_code == 403 and r.json()["code"] == "forbidden", (role, r.text)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=IDS)
def test_another_tenants_key_gets_none_of_this_tenants_data(env: dict[str, Any], method: str, path: str) -> None:
    c = CASES[(method, path)]
    r = _call(env, method, c, "B-admin")
    wanted = c.status if isinstance(c.status, tuple) else (c.status,)
    assert r.status_code in wanted, (c.isolation, r.status_code, r.text[:500])
    leaked = [m for m in _a_markers(env, c) if m in r.text]
    assert not leaked, f"{method} {path} gave tenant B's key tenant A's {leaked} ({c.isolation})"
    if c.after is not None:
        c.after(r, env)


def _no_a_data_unless_a(r: httpx.Response, env: dict[str, Any], c: Case) -> None:
    leaked = [m for m in _a_markers(env, c) if m in r.text]
    assert not leaked, f"a request without a key got tenant A's {leaked}"


# the reads that do return tenant A's data to A's own key: the markers above are what B would see if leaked
OWN: dict[tuple[str, str], Callable[[dict[str, Any]], str]] = {
    ("GET", "/v1/taxonomy"): lambda env: "甲机密描述",
    ("GET", "/v1/cases/{record_id}"): lambda env: "反转取出卡片甲",
    ("GET", "/v1/cases/{record_id}/stats"): lambda env: '"cited":1',
    ("POST", "/v1/search"): lambda env: "CA-SECRET-1",
    ("POST", "/v1/tags/suggest"): lambda env: "甲机密产品线",
    ("GET", "/v1/gaps"): lambda env: "甲租户没答上的问题",
    ("GET", "/v1/gaps/groups"): lambda env: "甲租户没答上的问题",
    ("GET", "/v1/answers/flagged"): lambda env: "甲租户被标记的承诺",
    ("GET", "/v1/curated"): lambda env: "反转取出卡片甲",
    ("GET", "/v1/review"): lambda env: env["a_draft"],
    ("GET", "/v1/review/{case_id}"): lambda env: "甲租户工单内容",
    ("GET", "/v1/review/stale"): lambda env: "CA-OLD",
    ("GET", "/v1/library/stats"): lambda env: "CA-SECRET-1",
    ("GET", "/v1/stats"): lambda env: "产品线/甲机密产品线",
    ("GET", "/v1/keys"): lambda env: env["a_key_ids"][0],
    ("GET", "/v1/imports/{job_id}"): lambda env: env["a_job"],
}


@pytest.mark.parametrize(("method", "path"), sorted(OWN), ids=[f"{m} {p}" for m, p in sorted(OWN)])
def test_the_tenants_own_key_does_see_its_data(env: dict[str, Any], method: str, path: str) -> None:
    r = _call(env, method, CASES[(method, path)], "A-admin")
    assert r.status_code == 200 and OWN[(method, path)](env) in r.text.replace(" ", ""), r.text[:500]

"""The console's reads without a browser: who a key is, the taxonomy, citation stats, the most-cited
and lowest-rated lists, stale cases, the source ticket of a draft; roles and tenants on each; and the
page's files: served with a self-only policy, shipped as package data, naming no other host."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.library import Library
from assistant.review import Review
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import ROOT, SAMPLE, case, write_jsonl

CONSOLE = ROOT / "api" / "console"
TICKET = {"kind": "ticket", "id": "T-A", "subject": "打印机连不上WiFi",
          "messages": [{"id": "m1", "role": "customer", "text": "打印机连不上网了，搜不到家里的WiFi。"},
                       {"id": "m2", "role": "agent", "text": "请登录路由器后台，开启2.4GHz频段。"},
                       {"id": "m3", "role": "customer", "text": "好了，可以打印了，谢谢。"}]}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("console-api")
    settings = Settings(home=d / "home", embedder="hash", passage_embedder="hash", abstain_below=0.0)
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    store = app.state.casepilot.store
    keys = {f"{t}-{r}": create_key(app.state.casepilot.http, t, r, f"{t} {r}")["key"] for t in ("A", "B") for r in ("agent", "reviewer")}
    a = Library(settings, "A", store=store)
    Ingestor(a).ingest_paths([SAMPLE / "taxonomy.yaml", write_jsonl(d / "a.jsonl", [
        case("C-1", "打印机连不上WiFi：路由器只开了5GHz", problem="客户的打印机搜不到家里的WiFi。",
             solution="1. 登录路由器后台\n2. 开启2.4GHz频段", updated_at="2020-01-01"),
        case("C-OLD", "发票抬头开错了", problem="发票抬头开错，需要重开。", solution="1. 作废\n2. 重开"),
        case("C-DRAFT-A", "A的草稿", status="in_review"), TICKET])])
    _, draft_a = Review(a, writer=Ingestor).draft("T-A")
    b = Library(settings, "B", store=store)
    Ingestor(b).ingest_paths([write_jsonl(d / "b.jsonl", [
        case("C-B1", "冷链温控报警", problem="冷链温控报警。", updated_at="2020-01-01"),
        {**TICKET, "id": "T-B"}])])
    _, draft_b = Review(b, writer=Ingestor).draft("T-B")
    with TestClient(app) as c:
        yield {"c": c, "keys": keys, "draft_a": draft_a, "draft_b": draft_b}


def get(env: dict[str, Any], who: str, path: str, **kw: Any) -> Any:
    return env["c"].get(path, headers={"Authorization": f"Bearer {env['keys'][who]}"}, **kw)


def post(env: dict[str, Any], who: str, path: str, body: Any) -> Any:
    return env["c"].post(path, json=body, headers={"Authorization": f"Bearer {env['keys'][who]}"})


def test_me_says_tenant_and_role(env: dict[str, Any]) -> None:
    for who in env["keys"]:
        me = get(env, who, "/v1/me").json()
        assert (me["tenant"], me["role"]) == tuple(who.split("-")) and len(me["key_id"]) == 12
    assert env["c"].get("/v1/me").status_code == 401


def test_taxonomy(env: dict[str, Any]) -> None:
    dims = get(env, "A-agent", "/v1/taxonomy").json()["dimensions"]
    tags = {v["tag"] for d in dims for v in d["values"]}
    assert "产品线/打印机" in tags and "问题类型/网络连接" in tags
    printer = next(v for d in dims for v in d["values"] if v["tag"] == "产品线/打印机")
    assert "printer" in printer["synonyms"]


def test_case_stats_count_citations_and_ratings_within_the_tenant(env: dict[str, Any]) -> None:
    a = post(env, "A-agent", "/v1/ask", {"question": "打印机连不上WiFi怎么办"}).json()
    assert "C-1" in {c["id"] for c in a["citations"]}
    assert post(env, "A-agent", f"/v1/answers/{a['id']}/feedback", {"helpful": False}).status_code == 201
    s = get(env, "A-agent", "/v1/cases/C-1/stats").json()
    assert s["id"] == "C-1" and s["cited"] >= 1 and s["not_helpful"] >= 1
    assert get(env, "A-agent", "/v1/cases/C-DRAFT-A/stats").status_code == 404  # agents: approved only
    assert get(env, "A-reviewer", "/v1/cases/C-DRAFT-A/stats").status_code == 200
    assert get(env, "A-reviewer", "/v1/cases/C-B1/stats").status_code == 404  # another tenant's
    assert get(env, "A-reviewer", "/v1/cases/T-A/stats").status_code == 404  # a ticket

    stats = get(env, "A-reviewer", "/v1/library/stats", params={"limit": 5}).json()
    assert stats["answers"] >= 1 and stats["most_cited"][0]["id"] == "C-1"
    assert stats["lowest_rated"][0]["id"] == "C-1" and stats["lowest_rated"][0]["not_helpful"] >= 1
    b = get(env, "B-reviewer", "/v1/library/stats").json()
    assert not {x["id"] for x in b["most_cited"] + b["lowest_rated"]} & {"C-1", "C-OLD"}
    assert get(env, "A-reviewer", "/v1/library/stats", params={"limit": 0}).status_code == 422


def test_review_show_carries_the_source_ticket_and_sentence_sources(env: dict[str, Any]) -> None:
    shown = get(env, "A-reviewer", f"/v1/review/{env['draft_a']}").json()
    assert shown["ticket"]["id"] == "T-A" and [m["id"] for m in shown["ticket"]["messages"]] == ["m1", "m2", "m3"]
    sentences = shown["draft"]["payload"]["sentences"]
    assert sentences and all(set(s["sources"]) <= {"m1", "m2", "m3"} for s in sentences)


def test_stale_lists_old_approved_cases_of_the_tenant(env: dict[str, Any]) -> None:
    stale = get(env, "A-reviewer", "/v1/review/stale").json()["stale"]
    ids = {s["id"] for s in stale}
    assert "C-1" in ids and "C-B1" not in ids and all(s["reasons"] for s in stale)
    assert {s["id"] for s in get(env, "B-reviewer", "/v1/review/stale").json()["stale"]} == {"C-B1"}


@pytest.mark.parametrize("path", ["/v1/review/stale", "/v1/library/stats", "/v1/review", "/v1/gaps"])
def test_an_agent_key_cannot_reach_reviewer_reads(env: dict[str, Any], path: str) -> None:
    r = get(env, "A-agent", path)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


def test_tenant_a_cannot_see_tenant_b_drafts_or_cases(env: dict[str, Any]) -> None:
    assert env["draft_b"] not in {q["id"] for q in get(env, "A-reviewer", "/v1/review").json()["queue"]}
    assert env["draft_a"] not in {q["id"] for q in get(env, "B-reviewer", "/v1/review").json()["queue"]}
    assert get(env, "A-reviewer", f"/v1/review/{env['draft_b']}").status_code == 404
    assert get(env, "B-reviewer", f"/v1/review/{env['draft_b']}").json()["ticket"]["id"] == "T-B"
    assert get(env, "A-reviewer", "/v1/cases/C-B1").status_code == 404


# ---- the page's files ----------------------------------------------------------------------------


def test_console_is_served_with_a_self_only_policy(env: dict[str, Any]) -> None:
    c = env["c"]
    r = c.get("/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"] == "/console/"
    page = c.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "connect-src 'self'" in csp
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        if not src.startswith("data:"):
            assert c.get(f"/console/{src}").status_code == 200, src
    js = c.get("/console/js/app.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert c.get("/console/../pyproject.toml").status_code == 404
    assert "/console/" not in c.get("/openapi.json").json()["paths"]


URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}|@import|url\(\s*['"]?(?!data:)[a-z]+:""", re.I)


# what the vendored libraries (js/vendor/) name: links in their licence headers and error messages, never loaded
VENDOR_LINKS = {"https://www.chartjs.org", "https://github.com"}


def test_the_console_names_no_other_host() -> None:
    vendor = CONSOLE / "js" / "vendor"
    files = [p for p in CONSOLE.rglob("*") if p.is_file() and vendor not in p.parents]
    assert {p.suffix for p in files} == {".html", ".css", ".js"}
    listed = (vendor / "README.md").read_text(encoding="utf-8")
    for lib in vendor.glob("*.js"):  # each vendored library: listed, with its licence beside it
        assert f"`{lib.name}`" in listed and list(vendor.glob(f"{lib.name.split('.')[0]}*LICENSE*")), lib
        assert {m.group(0) for m in URL.finditer(lib.read_text(encoding="utf-8"))} <= VENDOR_LINKS, lib
    for p in files:
        text = p.read_text(encoding="utf-8")
        assert not URL.search(text), f"{p.relative_to(ROOT)}: {URL.search(text)}"
        for ref in re.findall(r"""(?:src|href|from|import)\s*=?\s*["']([^"']+)["']""", text):
            assert not re.match(r"^(?:[a-z]+:)?//", ref, re.I) or ref.startswith("data:"), (p, ref)


def test_the_console_ships_as_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api"]
    for p in CONSOLE.rglob("*"):
        if p.is_file():
            rel = p.relative_to(ROOT / "api").as_posix()
            assert any(fnmatch(rel, g) for g in globs), f"{rel} is not in the wheel"


def test_every_string_key_used_exists_in_both_languages() -> None:
    i18n = (CONSOLE / "js" / "i18n.js").read_text(encoding="utf-8")
    zh_part, en_part = i18n.split("\n  en: {", 1)
    keys = {lang: set(re.findall(r'"([a-zA-Z]+\.[\w.]+)":', part)) for lang, part in (("zh", zh_part), ("en", en_part))}
    assert keys["zh"] == keys["en"]
    used: set[str] = set()
    for p in (CONSOLE / "js").glob("*.js"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-zA-Z]+\.[\w.]+)["']""", p.read_text(encoding="utf-8")))
    assert used <= keys["zh"], used - keys["zh"]



"""Gap groups as work (issue 25 item 1): the agents' replies in a group's tickets, drafting the missing
article from them into the review queue (command line, a real server, the model path through the
stub OpenAI server), and the gap report reading the question vectors cached when the questions were asked."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.embeddings import HashEmbedder
from assistant.errors import Conflict, NotFound
from assistant.gap_drafts import draft_extractive_faq, draft_group, group_extra, library_report
from assistant.gap_replies import Reply, ticket_replies
from assistant.gaps import GapCluster, GapReport, cluster_key, find_cluster
from assistant.library import Library
from assistant.query_vectors import QueryVectors, flush, query_model
from assistant.settings import Settings
from assistant.store import Store
from assistant.text import normalise
from ingestion.pipeline import Ingestor
from tests.cli_run import run_cli
from tests.conftest import SAMPLE, write_jsonl
from tests.stub_openai import ChatStub, chat_server
from tests.test_api import Server

BATTERY = "国际快递能寄锂电池吗"
BATTERY_KEY = cluster_key(BATTERY)
COLD = "冷库温控探头一直报警怎么办"
TICKETS = [
    {"kind": "ticket", "id": "T-GAP-1", "subject": "国际件寄蓝牙耳机", "product": "速达 国际件", "messages": [
        {"id": "m1", "role": "customer", "text": "速达国际件能寄带锂电池的蓝牙耳机去美国吗？"},
        {"id": "m2", "role": "agent", "author": "客服小周", "text": "您好，请稍等，正在为您查询。"},
        {"id": "m3", "role": "agent", "author": "客服小周", "at": "2026-12-01T10:02:00+08:00",
         "text": "内置锂电池的电子产品可以寄，但电池容量不能超过100Wh，需要在寄件单上勾选“含锂电池”。"},
        {"id": "m4", "role": "agent", "text": "单独的锂电池和充电宝不能走国际件。请问还有其他可以帮到您的吗？"},
        {"id": "m5", "role": "customer", "text": "好的，谢谢"},
        {"id": "m6", "role": "agent", "text": "麻烦您给个好评哦~"}]},
    {"kind": "ticket", "id": "T-GAP-2", "subject": "国际快递锂电池", "product": "速达 国际件", "messages": [
        {"id": "m1", "role": "customer", "text": "国际快递能寄锂电池吗"},
        {"id": "m2", "role": "agent", "text": "内置锂电池的电子产品可以寄，电池容量不能超过100Wh，寄件单上要勾选含锂电池。"},
        {"id": "m3", "role": "agent", "text": "客户是老客户，注意语气。", "internal": True},
        {"id": "m4", "role": "customer", "text": "明白了"}]},
    {"kind": "ticket", "id": "T-GAP-3", "subject": "冷库报警", "messages": [
        {"id": "m1", "role": "customer", "text": COLD},
        {"id": "m2", "role": "agent", "text": "您好，请稍等。"}]},
]


def log(store: Store, tenant: str, aid: str, question: str, ticket: str | None) -> None:
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    store.log_answer(tenant, {"id": aid, "question": question, "answer": "", "citations": "[]", "abstained": True,
                              "support": 0.1, "engine": "extractive", "ticket_id": ticket, "created_at": at})


def log_gaps(store: Store, tenant: str = "default") -> None:
    """Two wordings of the battery question from two tickets, and a question whose ticket holds no reply."""
    log(store, tenant, "a1", BATTERY, "T-GAP-1")
    log(store, tenant, "a2", "國際快遞能寄鋰電池嗎？", "T-GAP-2")
    log(store, tenant, "a3", COLD, "T-GAP-3")


# ---- the replies, and the extractive draft -----------------------------------------------------------


def test_a_tickets_replies_are_the_agents_messages_after_the_question_without_filler() -> None:
    replies = ticket_replies(TICKETS[0])
    assert [(r.message_id, r.author) for r in replies] == [("m3", "客服小周"), ("m4", "")]  # m2, m6: filler only
    assert replies[1].text == "单独的锂电池和充电宝不能走国际件。"  # the offer of more help is gone
    assert replies[0].ref == "T-GAP-1#m3" and replies[0].at == "2026-12-01T10:02:00+08:00"
    assert [r.message_id for r in ticket_replies(TICKETS[1])] == ["m2"]  # the internal note is not a reply
    assert ticket_replies(TICKETS[2]) == []
    # an agent's message before the customer asked anything is not a reply to the question
    assert ticket_replies({"id": "T", "messages": [{"id": "1", "role": "agent", "text": "请先重启路由器。"}]}) == []


def test_the_replies_follow_the_customers_message_that_asked_the_groups_question() -> None:
    both = {"id": "T-2", "messages": [
        {"id": "1", "role": "customer", "text": "打印机连不上WiFi怎么办"},
        {"id": "2", "role": "agent", "text": "请在打印机面板运行无线设置向导。"},
        {"id": "3", "role": "customer", "text": "另外问一下，国际快递能寄锂电池吗？"},
        {"id": "4", "role": "agent", "text": "内置锂电池的电子产品可以寄，电池容量不能超过100Wh。"}]}
    assert [r.message_id for r in ticket_replies(both, [BATTERY])] == ["4"]
    assert [r.message_id for r in ticket_replies(both, ["打印机连不上无线网络"])] == ["2", "4"]
    # asked while the agent worked a ticket about something else: no reply of that ticket answers it
    assert ticket_replies(TICKETS[0], ["冷库温控探头报警"]) == []


def test_the_extractive_draft_keeps_a_step_said_in_two_tickets_once_citing_both() -> None:
    cluster = GapCluster(question=BATTERY, count=2, previous=0, examples=(BATTERY,), reasons={"unanswered": 2},
                         tickets=("T-GAP-1", "T-GAP-2"), answer_ids=("a1", "a2"), first_at="", last_at="",
                         key=BATTERY_KEY)
    replies = [*ticket_replies(TICKETS[0]), *ticket_replies(TICKETS[1]),
               Reply("T-GAP-2", "m9", "", "", "请提供您的订单号。\n这个耳机是什么型号呢？")]
    d = draft_extractive_faq(cluster, replies, BATTERY_KEY)
    assert d.title == BATTERY and d.ticket_id == f"gap:{BATTERY_KEY}"
    assert [(s.section, s.sources) for s in d.sentences] == [
        ("problem", ["answer:a1", "answer:a2"]),
        ("solution", ["T-GAP-1#m3", "T-GAP-2#m2"]),  # one step, two tickets: said once, cited twice
        ("solution", ["T-GAP-1#m4"])]  # a request for an order number and a question to the customer: left out
    assert "100Wh" in d.section("solution") and "订单号" not in d.section("solution")


def test_a_key_finds_its_group_by_the_central_wording_then_by_any_other() -> None:
    def group(question: str, *others: str) -> GapCluster:
        return GapCluster(question=question, count=1, previous=0, examples=(question,), reasons={}, tickets=(),
                          answer_ids=(), first_at="", last_at="", key=cluster_key(question),
                          keys=frozenset(cluster_key(q) for q in (question, *others)))

    battery, cold = group(BATTERY, "国际件能寄充电宝吗"), group(COLD, BATTERY)  # BATTERY also in the second
    report = GapReport("", "", 30, [cold, battery])
    assert find_cluster(report, BATTERY_KEY) is battery  # a group's own key first
    assert find_cluster(report, f" {cluster_key('国际件能寄充电宝吗')} ") is battery  # a wording the centre moved from
    with pytest.raises(NotFound, match="last 30 days"):
        find_cluster(report, cluster_key("没问过的问题"))


# ---- the question vectors cached when the questions were asked ---------------------------------------


class Counting(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.embedded: list[str] = []

    def embed_questions(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += texts
        return super().embed_questions(texts)

    def embed_query(self, text: str) -> np.ndarray:
        self.embedded.append(text)
        return super().embed_query(text)


def test_embed_many_reads_the_vectors_asking_cached_and_embeds_the_rest_in_one_batch(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    emb = Counting()
    asked = QueryVectors(store, "t")
    cached = asked.embed(emb, "发票怎么重开")  # asked earlier, by another process
    flush()
    report = QueryVectors(store, "t")
    emb.embedded.clear()
    m = report.embed_many(emb, ["发票怎么重开", "门锁没电了", "门锁没电了"])
    assert emb.embedded == ["门锁没电了"]  # the cached one read from the store, the repeat embedded once
    assert np.allclose(m[0], cached) and np.allclose(m[1], emb.embed_query("门锁没电了")) and m.shape == (3, 64)
    assert (report.shared_hits, report.misses) == (1, 1) and report._lru == {}  # the agents' LRU untouched
    flush()
    assert store.get_vectors(query_model(emb.model_id), [report._key("门锁没电了")])  # written back
    other = QueryVectors(store, "other-tenant")
    emb.embedded.clear()
    other.embed_many(emb, ["发票怎么重开"])
    assert emb.embedded == ["发票怎么重开"]  # never another tenant's vector
    assert report.embed_many(emb, []).shape == (0, 64)
    store.close()


def test_the_gap_report_reuses_the_vectors_of_questions_asked_through_the_assistant(tmp_path: Path) -> None:
    from assistant.answering import Assistant

    settings = Settings(home=tmp_path / "home", abstain_below=0.99, passage_embedder="")
    emb = Counting()
    lib = Library(settings, embedder=emb, create=True)
    Ingestor(lib).ingest_paths([SAMPLE / "faq.csv"])
    for q in ("速达国际件能寄锂电池吗", "速達國際件能寄鋰電池嗎", "门锁网关报 E-7788 怎么办"):
        assert Assistant(lib).ask(q).abstained
    flush()
    emb.embedded.clear()
    fresh = Library(settings, embedder=emb)  # another process: its LRU empty, the store's table shared
    report = library_report(fresh)
    assert sum(g.count for g in report.groups) == 3
    assert emb.embedded == [] and fresh.query_vectors.shared_hits == 2  # two wordings, both cached
    assert [normalise(q) for q in ("速達國際件能寄鋰電池嗎",)] == ["速达国际件能寄锂电池吗"]
    fresh.close()
    lib.close()


# ---- the command line ------------------------------------------------------------------------------


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    home = tmp_path / "home"
    env = {"CASEPILOT_HOME": str(home), "CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash"}
    ran = run_cli("ingest", str(SAMPLE), str(write_jsonl(tmp_path / "t.jsonl", TICKETS)), env=env)
    assert ran.returncode == 0, ran.stderr
    store = Store(f"sqlite:///{home / 'casepilot.db'}")
    log_gaps(store)
    store.close()
    yield home, env


def test_gaps_group_shows_the_replies_and_gaps_draft_queues_a_cited_draft(home: tuple[Path, dict[str, str]]) -> None:
    _, env = home
    ran = run_cli("gaps", "--group", "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    groups = {g["key"]: g for g in json.loads(ran.stdout)["groups"]}
    battery = groups[BATTERY_KEY]
    assert battery["count"] == 2 and battery["tickets"] == ["T-GAP-1", "T-GAP-2"] and battery["draft"] is None
    assert [(r["ticket_id"], r["message_id"]) for r in battery["replies"]] == [
        ("T-GAP-1", "m3"), ("T-GAP-1", "m4"), ("T-GAP-2", "m2")]
    assert groups[cluster_key(COLD)]["replies"] == []
    text = run_cli("gaps", "--group", env=env).stdout
    assert f"[{BATTERY_KEY}]" in text and "agent replied (T-GAP-1#m4): 单独的锂电池和充电宝不能走国际件。" in text

    ran = run_cli("gaps", "draft", BATTERY_KEY, "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    cid = out["case_id"]
    assert cid == f"GD-{BATTERY_KEY}" and out["draft"]["title"] == BATTERY
    assert {src for s in out["draft"]["sentences"] if s["section"] == "solution" for src in s["sources"]} == {
        "T-GAP-1#m3", "T-GAP-2#m2", "T-GAP-1#m4"}
    queue = json.loads(run_cli("review", "list", "--json", env=env).stdout)["queue"]
    item = next(q for q in queue if q["id"] == cid)
    assert item["ticket_id"] == f"gap:{BATTERY_KEY}"
    shown = json.loads(run_cli("review", "show", cid, "--json", env=env).stdout)
    assert shown["status"] == "in_review" and shown["case"]["source_tickets"] == ["T-GAP-1", "T-GAP-2"]
    assert "100Wh" in shown["case"]["solution"] and shown["case"]["product"] == "速达 国际件"
    assert shown["draft"]["payload"]["gap"]["answer_ids"] == ["a1", "a2"]
    after = json.loads(run_cli("gaps", "--group", "--json", env=env).stdout)["groups"]
    assert next(g for g in after if g["key"] == BATTERY_KEY)["draft"] == {"case_id": cid, "status": "in_review"}

    assert run_cli("review", "approve", cid, "--as", "王审核", env=env).returncode == 0
    again = run_cli("gaps", "draft", BATTERY_KEY, env=env)
    assert again.returncode == 2 and "drafted before and the draft was approved" in again.stderr


def test_a_group_without_replies_or_an_unknown_key_drafts_nothing(home: tuple[Path, dict[str, str]]) -> None:
    _, env = home
    none = run_cli("gaps", "draft", cluster_key(COLD), env=env)
    assert none.returncode == 2 and "no agents' replies to draft from" in none.stderr
    unknown = run_cli("gaps", "draft", "000000000000", env=env)
    assert unknown.returncode == 2 and "no gap group '000000000000'" in unknown.stderr
    missing = run_cli("gaps", "draft", env=env)
    assert missing.returncode == 2 and "needs a group's KEY" in missing.stderr
    queue = json.loads(run_cli("review", "list", "--json", env=env).stdout)["queue"]
    assert not [q for q in queue if q["id"].startswith("GD-")]


# ---- the model path ------------------------------------------------------------------------------


def test_with_a_model_the_draft_cites_only_the_replies_it_was_given(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(home=tmp_path / "home", embedder="hash", passage_embedder="hash", llm="openai:stub-model")
    lib = Library(settings, create=True)
    Ingestor(lib).ingest_paths([write_jsonl(tmp_path / "t.jsonl", TICKETS)])
    log_gaps(lib.store)
    reply = json.dumps({"title": "模型写的标题", "sentences": [
        {"section": "problem", "text": "客户问国际快递能否寄锂电池。", "sources": ["Q1"]},
        {"section": "solution", "text": "内置锂电池的产品可以寄，电池不超过100Wh。", "sources": ["T-GAP-1#m3", "T-GAP-9#m1"]},
        {"section": "solution", "text": "单独的锂电池不能寄。", "sources": ["T-GAP-1#m4"]}]}, ensure_ascii=False)
    with chat_server() as url:
        monkeypatch.setenv("OPENAI_BASE_URL", url)
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        ChatStub.script = ["raw:" + reply]
        d, cid = draft_group(lib, BATTERY_KEY, writer=Ingestor, actor="test")
        sent = ChatStub.requests[0]["messages"][1]["content"]
    assert "[T-GAP-2#m2] agent: 内置锂电池" in sent and "老客户" not in sent  # no internal note reaches the model
    assert d.engine.startswith("openai:stub-model") and d.title == BATTERY  # the group's wording is the title
    assert [s.sources for s in d.sentences] == [["Q1"], ["T-GAP-1#m3"], ["T-GAP-1#m4"]]  # T-GAP-9 is not a reply
    assert lib.store.get("default", cid).data["source_tickets"] == ["T-GAP-1"]
    lib.close()


# ---- the API, on a real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("gapapi")
    settings = Settings(home=d / "home", embedder="hash", passage_embedder="hash")
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    st = app.state.casepilot
    keys = {f"{t}-{r}": create_key(st.http, t, r)["key"] for t in ("A", "B") for r in ("agent", "reviewer")}
    lib = Library(settings, "A", store=st.store)
    Ingestor(lib).ingest_paths([write_jsonl(d / "t.jsonl", TICKETS)])
    lib.close()
    log_gaps(st.store, "A")
    with Server(app) as srv:
        yield {"url": srv.url, "keys": keys, "store": st.store}


def _client(server: dict[str, Any], who: str) -> httpx.Client:
    return httpx.Client(base_url=server["url"], headers={"Authorization": f"Bearer {server['keys'][who]}"},
                        timeout=60)


def test_the_api_lists_groups_with_replies_and_drafts_one_for_review(server: dict[str, Any]) -> None:
    with _client(server, "A-reviewer") as c:
        groups = {g["key"]: g for g in c.get("/v1/gaps/groups").json()["groups"]}
        assert groups[BATTERY_KEY]["replies"][0] == {
            "ticket_id": "T-GAP-1", "message_id": "m3", "author": "客服小周", "at": "2026-12-01T10:02:00+08:00",
            "text": "内置锂电池的电子产品可以寄，但电池容量不能超过100Wh，需要在寄件单上勾选“含锂电池”。"}
        r = c.post(f"/v1/gaps/groups/{BATTERY_KEY}/draft")
        assert r.status_code == 201, r.text
        cid = r.json()["case_id"]
        assert cid == f"GD-{BATTERY_KEY}" and r.json()["draft"]["solution"].startswith("1. 内置锂电池")
        assert cid in [q["id"] for q in c.get("/v1/review").json()["queue"]]
        assert c.get(f"/v1/review/{cid}").json()["draft"]["payload"]["gap"]["key"] == BATTERY_KEY
        groups = {g["key"]: g for g in c.get("/v1/gaps/groups").json()["groups"]}
        assert groups[BATTERY_KEY]["draft"] == {"case_id": cid, "status": "in_review"}

        r = c.post(f"/v1/gaps/groups/{cluster_key(COLD)}/draft")
        assert r.status_code == 409 and "no agents' replies" in r.json()["detail"]
        assert server["store"].get("A", f"GD-{cluster_key(COLD)}") is None
        r = c.post("/v1/gaps/groups/000000000000/draft", params={"days": 7})
        assert r.status_code == 404 and "last 7 days" in r.json()["detail"]
    with _client(server, "A-agent") as c:
        assert c.post(f"/v1/gaps/groups/{BATTERY_KEY}/draft").status_code == 403
    with _client(server, "B-reviewer") as c:  # another tenant's group is not there
        assert c.post(f"/v1/gaps/groups/{BATTERY_KEY}/draft").status_code == 404
        assert c.get("/v1/gaps/groups").json()["groups"] == []


def test_draft_group_in_the_core_refuses_what_it_cannot_draft(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", embedder="hash", passage_embedder="hash")
    lib = Library(settings, create=True)
    Ingestor(lib).ingest_paths([write_jsonl(tmp_path / "t.jsonl", TICKETS)])
    log_gaps(lib.store)
    log(lib.store, "default", "a4", "没有工单的问题怎么办", None)
    with pytest.raises(NotFound):
        draft_group(lib, "nope", writer=Ingestor, actor="t")
    with pytest.raises(Conflict, match="not asked about a ticket"):
        draft_group(lib, cluster_key("没有工单的问题怎么办"), writer=Ingestor, actor="t")
    extra = group_extra(lib)(library_report(lib).groups[0])
    assert set(extra) == {"replies", "draft"}
    lib.close()

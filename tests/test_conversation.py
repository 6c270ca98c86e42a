"""Conversations inside a ticket (turns persisted per ticket id, follow-ups resolved against earlier
turns) and feedback on answers, with the hash embedder, through the library and through `casepilot chat` /
`casepilot feedback`."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pytest
import sqlalchemy as sa

from assistant.answering import Assistant
from assistant.conversation import Conversations, chat, check_ticket_id, feedback
from assistant.embeddings import HashEmbedder
from assistant.errors import InputError, NotFound
from assistant.library import Library
from assistant.settings import Settings
from assistant.store import Store
from assistant.store.store import make_engine, upgrade_schema
from ingestion.pipeline import Ingestor
from tests.cli_run import Ran, run_cli
from tests.conftest import case, write_jsonl

ANY_ANSWER = mock.ANY

RECORDS = [
    case("C-1", "打印机连不上WiFi：路由器只开了5GHz",
         problem="客户的RP-M227打印机搜不到家里的WiFi。",
         diagnosis="检查路由器设置。根因是路由器关闭了2.4GHz频段，而打印机只支持2.4GHz。",
         solution="1. 登录路由器后台\n2. 开启2.4GHz频段并单独命名\n3. 在打印机面板重新连接WiFi",
         outcome="打印机恢复联网。"),
    case("C-2", "年付订阅申请退款被拒绝", problem="客户要求年付订阅全额退款。",
         diagnosis="年付订阅超过30天不支持全额退款。", solution="1. 说明退款规则\n2. 提供按月折算的补偿方案",
         tags=["产品线/计费系统"], product="云账通"),
    {"kind": "ticket", "id": "T-1", "subject": "打印机连不上WiFi",
     "messages": [{"id": "m1", "role": "customer", "text": "打印机连不上网"}]},
]


@pytest.fixture
def lib(tmp_path: Path, library: Library, ingestor: Ingestor) -> Library:
    ingestor.ingest_paths([write_jsonl(tmp_path / "lib.jsonl", RECORDS)])
    return library


@pytest.fixture
def assistant(lib: Library) -> Assistant:
    return Assistant(lib, support_threshold=0.0)


def test_turns_persist_across_reopening_the_library(settings: Settings, lib: Library, assistant: Assistant) -> None:
    a = chat(assistant, "T-1", "打印机连不上WiFi怎么办")
    lib.close()
    reopened = Library(settings, embedder=HashEmbedder())
    try:
        turns = reopened.store.turns(reopened.tenant, "T-1")
        assert [(t.role, t.text, t.answer_id) for t in turns] == [
            ("user", "打印机连不上WiFi怎么办", None), ("assistant", a.answer, a.id)]
        assert all(t.created_at for t in turns)
        # the resumed session resolves a follow-up against the stored turns
        b = chat(Assistant(reopened, support_threshold=0.0), "T-1", "那如果是5GHz呢？")
        assert b.retrieval_query.startswith("打印机连不上WiFi怎么办 那如果是5GHz呢？")
        assert len(reopened.store.turns(reopened.tenant, "T-1")) == 4
    finally:
        reopened.close()


def test_follow_up_carries_the_earlier_question_of_the_same_ticket_only(lib: Library, assistant: Assistant) -> None:
    chat(assistant, "slack:C1-171", "打印机连不上WiFi怎么办", thread=True)
    follow = chat(assistant, "slack:C1-171", "那如果是5GHz呢？", thread=True)
    assert "打印机连不上WiFi怎么办" in follow.retrieval_query
    assert "C-1" in {c.id for c in follow.citations}
    other = chat(assistant, "slack:C1-999", "那如果是5GHz呢？", thread=True)  # another thread: nothing to carry over
    assert "打印机" not in other.retrieval_query


def test_ticket_scope_only_when_the_ticket_is_stored(lib: Library, assistant: Assistant) -> None:
    scoped = chat(assistant, "T-1", "客户说重启过了还是不行，下一步做什么")
    assert "打印机连不上WiFi" in scoped.retrieval_query  # the stored ticket's subject
    assert lib.store.answer(lib.tenant, scoped.id).ticket_id == "T-1"  # type: ignore[union-attr]
    with pytest.raises(NotFound, match=r"no ticket 'T-404'.*--thread NAME"):  # an unknown ticket is no thread
        chat(assistant, "T-404", "客户说重启过了还是不行，下一步做什么")
    thread = chat(assistant, "T-404", "客户说重启过了还是不行，下一步做什么", thread=True)  # said to be one
    assert "打印机连不上WiFi" not in thread.retrieval_query
    assert lib.store.answer(lib.tenant, thread.id).ticket_id is None  # type: ignore[union-attr]
    assert [t.answer_id for t in lib.store.turns(lib.tenant, "T-404")] == [None, thread.id]


def test_history_limit_and_bad_input_store_nothing(lib: Library, assistant: Assistant) -> None:
    for q in ("打印机连不上WiFi怎么办", "客户要求年付订阅全额退款怎么处理", "那如果是5GHz呢？"):
        chat(assistant, "T-9", q, thread=True)
    assert [t.text for t in lib.store.turns(lib.tenant, "T-9", limit=2)] == ["那如果是5GHz呢？", ANY_ANSWER]
    # the follow-up is resolved against the last `history` turns only
    assert chat(assistant, "T-9", "那如果是月付呢？", history=2, thread=True).retrieval_query == "那如果是5GHz呢？ 那如果是月付呢？"
    assert chat(assistant, "T-9", "那如果是月付呢？", history=1, thread=True).retrieval_query == "那如果是月付呢？"  # an answer only
    with pytest.raises(InputError, match="empty"):
        chat(assistant, "T-9", "   ", thread=True)
    with pytest.raises(InputError, match="ticket id is empty"):
        chat(assistant, "  ", "打印机")
    with pytest.raises(InputError, match="limit is 200"):
        check_ticket_id("T" * 201)
    assert check_ticket_id(" T-1 ") == "T-1"
    with pytest.raises(InputError, match="role"):
        lib.store.add_turns(lib.tenant, "T-9", [{"role": "user", "text": "ok"}, {"role": "system", "text": "x"}])
    assert len(lib.store.turns(lib.tenant, "T-9")) == 10  # neither the rejected question nor the half batch


def test_feedback_is_stored_and_listed_with_the_answer_and_its_citations(lib: Library, assistant: Assistant) -> None:
    conv = Conversations(assistant)
    a = conv.chat("T-1", "打印机连不上WiFi怎么办")
    assert conv.last_answer_id("T-1") == a.id
    first = conv.feedback(a.id, False, "  步骤不全  ")
    assert first.comment == "步骤不全" and first.helpful is False
    conv.feedback(a.id, True)
    rows = lib.store.feedback(lib.tenant)
    assert [r.helpful for r in rows] == [True, False]  # newest first; every rating kept
    r = rows[1]
    assert r.answer_id == a.id and r.question == "打印机连不上WiFi怎么办" and r.answer == a.answer
    assert r.engine == a.engine and r.ticket_id == "T-1" and r.comment == "步骤不全"
    assert "C-1" in {c["id"] for c in r.citations} and all("quote" in c for c in r.citations)
    assert lib.store.feedback(lib.tenant, answer_id="other") == []
    assert len(lib.store.feedback(lib.tenant, answer_id=a.id, limit=1)) == 1
    logged = lib.store.answer(lib.tenant, a.id)
    assert logged is not None and [c["id"] for c in logged.citations] == [c.id for c in a.citations]
    assert lib.store.answer(lib.tenant, "nope") is None


def test_feedback_on_an_unknown_answer_is_not_found(lib: Library, assistant: Assistant) -> None:
    with pytest.raises(NotFound, match="no answer 'nope' in tenant 'default'"):
        feedback(lib, lib.tenant, "nope", True)
    with pytest.raises(InputError, match="answer id is empty"):
        feedback(lib.store, lib.tenant, " ", True)
    a = assistant.ask("打印机连不上WiFi怎么办")
    with pytest.raises(InputError, match="limit is 2000"):
        feedback(lib.store, lib.tenant, a.id, True, "长" * 2001)
    assert lib.store.feedback(lib.tenant) == []


def test_tenants_see_neither_each_others_turns_nor_answers(lib: Library, assistant: Assistant,
                                                            settings: Settings) -> None:
    a = chat(assistant, "T-1", "打印机连不上WiFi怎么办")
    feedback(lib, lib.tenant, a.id, True, "好")
    acme = Library(settings, "acme", embedder=HashEmbedder(), store=lib.store)
    assert acme.store.turns("acme", "T-1") == []
    with pytest.raises(NotFound, match=rf"no answer '{a.id}' in tenant 'acme'"):
        feedback(acme, "acme", a.id, False)
    assert acme.store.feedback("acme") == [] and acme.store.answer("acme", a.id) is None
    b = chat(Assistant(acme, support_threshold=0.0), "T-1", "那如果是5GHz呢？", thread=True)  # not acme's ticket
    assert "打印机连不上WiFi怎么办" not in b.retrieval_query  # default's turns are not acme's conversation
    assert [t.text for t in lib.store.turns(lib.tenant, "T-1")] == ["打印机连不上WiFi怎么办", a.answer]
    assert [t.text for t in acme.store.turns("acme", "T-1")] == ["那如果是5GHz呢？", b.answer]
    assert [r.answer_id for r in lib.store.feedback(lib.tenant)] == [a.id]


def test_a_store_at_0003_upgrades_in_place_and_keeps_its_answers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade_schema(engine, "0003")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO answers (id, tenant, ticket_id, question, answer, citations, abstained, support, engine, "
            "created_at) VALUES ('a1', 'default', NULL, '打印机连不上WiFi', '1. 重启 [C-1]', :c, 0, 0.9, "
            "'extractive', '2026-01-01T00:00:00+00:00')"),
            {"c": json.dumps([{"id": "C-1", "quote": "重启"}], ensure_ascii=False)})
        assert "turns" not in sa.inspect(conn).get_table_names()
    engine.dispose()

    store = Store(url)  # opening upgrades to head
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() >= "0004"
            assert {"turns", "feedback"} <= set(sa.inspect(conn).get_table_names())
        old = store.answer("default", "a1")
        assert old is not None and old.question == "打印机连不上WiFi" and old.citations[0]["id"] == "C-1"
        assert [r.id for r in store.answers("default")] == ["a1"]
        store.add_feedback("default", "a1", True, "老答案也能评")
        assert store.feedback("default")[0].citations == [{"id": "C-1", "quote": "重启"}]
        store.add_turns("default", "T-1", [{"role": "user", "text": "问"}])
        assert store.turns("default", "T-1")[0].text == "问"
    finally:
        store.close()


# ---- the command line ----------------------------------------------------------------------------


def run(home: Path, *args: str, stdin: str | None = None) -> Ran:
    return run_cli(*args, env={"CASEPILOT_HOME": str(home), "CASEPILOT_EMBEDDER": "hash",
                               "CASEPILOT_PASSAGE_EMBEDDER": "hash", "CASEPILOT_ABSTAIN_BELOW": "0"}, stdin=stdin)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("chat")
    r = run(d / "home", "ingest", str(write_jsonl(d / "lib.jsonl", RECORDS)), "--json")
    assert r.returncode == 0, r.stderr
    return d / "home"


def answer_ids(stdout: str) -> list[str]:
    return [ln.split()[1].rstrip(":") for ln in stdout.splitlines() if ln.startswith("(answer ")]


def test_cli_chat_session_with_feedback_and_resume(home: Path) -> None:
    r = run(home, "chat", "--thread", "T-CLI", stdin="打印机连不上WiFi怎么办\n那如果是5GHz呢？\n/good nice\n/quit\n忽略\n")
    assert r.returncode == 0, r.stderr
    ids = answer_ids(r.stdout)
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)
    assert "[C-1]" in r.stdout and "引用：" in r.stdout  # printed like `casepilot ask`
    assert f"rated answer {ids[1]} helpful: nice" in r.stdout
    assert "> " not in r.stdout and "Traceback" not in r.stderr

    listed = run(home, "feedback", "--list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)["feedback"]
    assert [(x["answer_id"], x["helpful"], x["comment"], x["question"]) for x in rows] == [
        (ids[1], True, "nice", "那如果是5GHz呢？")]
    assert "C-1" in {c["id"] for c in rows[0]["citations"]}

    # a new session on the same ticket resumes it: the history, and /bad rates the stored last answer
    r = run(home, "chat", "--thread", "T-CLI", "--json", stdin="/history\n/bad 没说有线\n")
    assert r.returncode == 0, r.stderr
    out = [json.loads(ln) for ln in r.stdout.splitlines()]  # stdout is only JSON
    assert [t["role"] for t in out[0]["history"]] == ["user", "assistant", "user", "assistant"]
    assert [t["answer_id"] for t in out[0]["history"]][1::2] == ids
    assert out[1]["feedback"]["answer_id"] == ids[1] and out[1]["feedback"]["helpful"] is False

    text = run(home, "feedback", "--list")
    assert text.returncode == 0 and "not helpful" in text.stdout and "comment: 没说有线" in text.stdout
    assert "cited: C-1" in text.stdout


def test_cli_chat_json_lines_and_bad_lines(home: Path) -> None:
    r = run(home, "chat", "--ticket", "T-1", "--json", stdin="/good\n打印机连不上WiFi怎么办\n/nope\n\n客户要求全额退款\n")
    assert r.returncode == 2  # two lines were rejected; the session went on
    answers = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(answers) == 2 and all({"id", "answer", "citations", "abstained"} <= set(a) for a in answers)
    assert "no answer to rate yet" in r.stderr and "unknown command /nope" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("feedback", "0123456789abcdef0123456789abcdef", "--helpful"), "no answer '0123456789abcdef0123456789abcdef'"),
    (("feedback", "x"), "give ANSWER_ID and --helpful or --not-helpful"),
    (("feedback",), "give ANSWER_ID and --helpful or --not-helpful"),
    (("feedback", "--list", "--helpful"), "--list shows feedback"),
    (("chat", "--ticket", " "), "the ticket id is empty"),
    (("chat", "--ticket", "T" * 201), "the limit is 200"),
])
def test_cli_bad_input_exits_2_with_one_clear_line(home: Path, args: tuple[str, ...], message: str) -> None:
    r = run(home, *args, stdin="")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def test_cli_feedback_rates_an_answer_from_ask(home: Path) -> None:
    asked = run(home, "ask", "客户要求年付订阅全额退款怎么处理", "--json")
    aid = json.loads(asked.stdout)["id"]
    r = run(home, "feedback", aid, "--not-helpful", "--comment", "规则已变", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) | {"id": 0, "created_at": "", "rater": ""} == {
        "id": 0, "answer_id": aid, "helpful": False, "comment": "规则已变", "created_at": "", "rater": ""}
    assert json.loads(r.stdout)["rater"].startswith("cli:")  # the login name, or --as NAME
    r = run(home, "feedback", "--list", aid, "--json")
    assert [x["comment"] for x in json.loads(r.stdout)["feedback"]] == ["规则已变"]

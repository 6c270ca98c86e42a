"""Follow-ups in a ticket chat answered without a model (issue 21 item 8): the follow-up's own words
weigh more in retrieval, what an earlier answer already said is not quoted again, and when the
library holds nothing beyond it the answer says so instead of repeating it. A standalone question
in the same conversation is answered as if asked alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.answering import NOTHING_NEW, Answer, Assistant, FollowUp
from assistant.conversation import chat
from assistant.library import Library
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl

WIFI = case("C-1", "打印机连不上WiFi：路由器只开了5GHz",
            problem="客户的RP-M227打印机搜不到家里的WiFi。",
            diagnosis="检查路由器设置。根因是路由器关闭了2.4GHz频段，而打印机只支持2.4GHz。",
            solution="1. 登录路由器后台\n2. 开启2.4GHz频段并单独命名\n3. 在打印机面板重新连接WiFi",
            outcome="打印机恢复联网。")
WIRED = case("C-3", "打印机插了网线仍然脱机：网线接在了路由器的WAN口",
             problem="客户改用有线连接后，打印机一直显示脱机。",
             diagnosis="有线连接时打印机获取不到内网地址。根因是网线插在了路由器的WAN口上。",
             solution="1. 把网线从WAN口拔下，改插任意LAN口\n2. 在打印机面板打印网络配置页，确认有线连接已获取内网地址\n"
                      "3. 在电脑上删除旧的打印机，按新地址重新添加",
             outcome="打印机有线连接恢复正常。")
REFUND = case("C-2", "年付订阅申请退款被拒绝", problem="客户要求年付订阅全额退款。",
              diagnosis="年付订阅超过30天不支持全额退款。", solution="1. 说明退款规则\n2. 提供按月折算的补偿方案",
              tags=["产品线/计费系统"], product="云账通")


def make(tmp_path: Path, library: Library, ingestor: Ingestor, records: list[dict[str, Any]]) -> Assistant:
    ingestor.ingest_paths([write_jsonl(tmp_path / "lib.jsonl", records)])
    return Assistant(library, support_threshold=0.0, log=False)


def lines(a: Answer) -> set[str]:
    """The sentences an answer quotes."""
    return {c.quote for c in a.citations}


def test_a_follow_up_about_another_condition_quotes_that_condition_not_the_earlier_answer(
        tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    assistant = make(tmp_path, library, ingestor, [WIFI, WIRED, REFUND])
    first = chat(assistant, "T-7", "打印机连不上WiFi怎么办", thread=True)
    assert {c.id for c in first.citations} == {"C-1"}
    follow = chat(assistant, "T-7", "那如果是有线连接呢？", thread=True)
    # the condition it changes weighs more than the earlier question's words
    assert follow.retrieval_query == "打印机连不上WiFi怎么办 那如果是有线连接呢？ 有线 连接"
    assert not follow.abstained and follow.answer != first.answer
    assert not lines(follow) & lines(first)  # nothing the earlier answer said, again
    assert "C-3" in {c.id for c in follow.citations}
    assert "有线" in follow.answer


def test_a_follow_up_the_library_has_nothing_more_on_says_so_instead_of_repeating(
        tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    assistant = make(tmp_path, library, ingestor, [WIFI, REFUND])  # no record about a wired connection
    first = chat(assistant, "T-8", "打印机连不上WiFi怎么办", thread=True)
    assert {c.id for c in first.citations} == {"C-1"}
    follow = chat(assistant, "T-8", "那如果是有线连接呢？", thread=True)
    assert follow.abstained and follow.citations == []
    assert follow.answer.startswith(NOTHING_NEW)
    assert not any(q in follow.answer for q in lines(first))
    assert "C-1" in {h.id for h in follow.related}  # what it had, still listed
    # a third turn after that: the "nothing new" turn is not an answer whose sentences count as said
    again = chat(assistant, "T-8", "那重新连接WiFi以后呢？", thread=True)
    assert again.answer != first.answer


def test_the_earlier_answer_quoted_verbatim_or_closely_is_not_quoted_again(
        tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    assistant = make(tmp_path, library, ingestor, [WIFI, WIRED, REFUND])
    # an agent's (or a model's) close paraphrase of C-1's steps counts as said, too
    conversation = [{"role": "user", "text": "打印机连不上WiFi怎么办"},
                    {"role": "assistant", "text": "根因是路由器关闭了2.4GHz频段，打印机只支持2.4GHz。先登录路由器后台，"
                                                  "开启2.4GHz频段并单独命名，再在打印机面板重新连接WiFi。"}]
    new = assistant.known_new_words("那如果是有线连接呢？", conversation[0]["text"])
    said = assistant.already_said(assistant.retrieve("打印机连不上WiFi")[1], FollowUp([conversation[1]["text"]], new))
    assert {"登录路由器后台", "开启2.4GHz频段并单独命名", "在打印机面板重新连接WiFi"} <= said
    assert "把网线从WAN口拔下，改插任意LAN口" not in said
    follow = assistant.ask("那如果是有线连接呢？", conversation=conversation)
    assert not follow.abstained and not lines(follow) & said


@pytest.mark.parametrize("question", ["客户要求年付订阅全额退款，已经用了两个月了，怎么处理", "年付订阅能退款吗"])
def test_a_standalone_question_in_the_conversation_is_answered_as_if_asked_alone(
        tmp_path: Path, library: Library, ingestor: Ingestor, question: str) -> None:
    assistant = make(tmp_path, library, ingestor, [WIFI, WIRED, REFUND])
    alone = assistant.ask(question)
    first = chat(assistant, "T-9", "打印机连不上WiFi怎么办", thread=True)
    within = chat(assistant, "T-9", question, thread=True)
    assert {c.id for c in within.citations} == {c.id for c in alone.citations} == {"C-2"}
    assert within.answer == alone.answer and within.answer != first.answer
    if len(question) >= 15:  # not taken for a follow-up at all
        assert within.retrieval_query == alone.retrieval_query == question


def test_without_a_conversation_nothing_changes(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    assistant = make(tmp_path, library, ingestor, [WIFI, WIRED, REFUND])
    a = assistant.ask("那如果是有线连接呢？")
    assert a.retrieval_query == "那如果是有线连接呢？"
    assert assistant.follow_up("那如果是有线连接呢？", None) is None
    assert assistant.follow_up("那如果是有线连接呢？", [{"role": "assistant", "text": "先重启"}]) is None


def test_a_follow_up_asking_about_what_was_said_gets_that_sentence_again(
        tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    assistant = make(tmp_path, library, ingestor, [WIFI, WIRED, REFUND])
    first = chat(assistant, "T-10", "打印机连不上WiFi怎么办", thread=True)
    follow = chat(assistant, "T-10", "那要开哪个频段？", thread=True)  # the earlier answer named it: say it again
    assert not follow.abstained and any("2.4GHz频段" in q for q in lines(follow))
    assert lines(follow) & lines(first)

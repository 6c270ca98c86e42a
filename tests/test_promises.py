"""The promise check (assistant/promises.py): the policy file and its errors, what counts as a
commitment, when the cited source supports one (amounts and days included), answers from a model that
promise more than their case (through the real stub server), the count the desk reads on both
databases, a draft's promises for its reviewer, and ``casepilot promises`` / ``ask``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assistant.answering import Assistant
from assistant.draft_promises import draft_flags
from assistant.errors import ConfigError
from assistant.library import Library
from assistant.promises import POLICY_FILE, default_policy, default_policy_text, flagged_report, load_policy
from assistant.store import Store
from tests.cli_run import run_cli
from tests.stub_openai import ChatStub

P = default_policy()


def categories(sentence: str) -> set[str]:
    return {c.category for c in P.claims(sentence)}


@pytest.mark.parametrize(("sentence", "expected"), [
    ("我们会在24小时内给您退款。", {"refund", "deadline"}),
    ("我們會在24小時內給您退款。", {"refund", "deadline"}),  # traditional, compared after normalising
    ("已经为您申请补偿20元优惠券", {"compensation"}),
    ("明天就会发货", {"deadline"}),
    ("根据消费者权益保护法，您依法有权七天无理由退货", {"legal"}),
    ("这款净化器对人体无害，孕妇也可以放心使用", {"medical"}),
    ("我们保证三天内修好", {"guarantee", "deadline"}),
    ("We will refund the full amount within 5 business days.", {"refund", "deadline"}),
    ("Wir werden Ihnen den Betrag erstatten.", {"refund"}),
])
def test_commitments_by_category_in_chinese_english_and_german(sentence: str, expected: set[str]) -> None:
    assert categories(sentence) == expected


@pytest.mark.parametrize("sentence", [
    "请问您要退款吗？",  # a question
    "我们无法保证发货时间",  # negated
    "京东会员可以享受免运费",  # 会员 is no commitment, and nothing of a category
    "退款规则见帮助中心",  # a mention without a commitment
    "We cannot guarantee delivery dates.",
    "To ensure compliance with GDPR, encrypt the data.",  # advice, not a statement of what is lawful
    "打印机无法连接WiFi时，先重启路由器。",
])
def test_what_is_not_a_commitment(sentence: str) -> None:
    assert P.claims(sentence) == []


def test_numbers_and_days_must_match_the_source() -> None:
    source = "退款在3个工作日内原路退回。年付订阅超过30天不支持全额退款。"
    assert P.check("退款会在3个工作日内原路退回。", source, "C-1") == []
    assert P.check("退款會在三個工作日內原路退回。", source, "C-1") == []  # 三 is 3, traditional folded
    [f] = P.check("退款会在7天内退回。", source, "C-1")
    assert (f.category, f.reason, f.missing, f.source) == ("deadline", "quantity", ("7天",), "C-1")
    assert "7天" in f.why and "C-1" in f.why
    [f] = P.check("退款明天就会到账。", source, "C-1")
    assert (f.reason, f.missing) == ("word", ("明天",))
    [f] = P.check("我们会赔偿您20元。", source, "C-1")
    assert (f.category, f.reason) == ("compensation", "topic")
    [f] = P.check("我们会给您退款。", None)
    assert f.reason == "uncited"


def test_the_owner_edits_the_policy_in_the_home(tmp_path: Path) -> None:
    assert load_policy(tmp_path) is P  # none in the home: the packaged one
    own = default_policy_text().replace("  medical:\n", "  shipping:\n    label: 包邮\n    needs_commitment: false\n"
                                        "    terms: [包邮, free shipping]\n\n  medical:\n")
    (tmp_path / POLICY_FILE).write_text(own, encoding="utf-8")
    policy = load_policy(tmp_path)
    assert {c.category for c in policy.claims("这单給您包郵")} == {"shipping"}
    (tmp_path / POLICY_FILE).write_text("version: 1\ncategories:\n  refund: {terms: [退款], patterns: ['(']}\n",
                                        encoding="utf-8")
    with pytest.raises(ConfigError, match=r"promise_policy.yaml: categories.refund: not a valid pattern"):
        load_policy(tmp_path)
    (tmp_path / POLICY_FILE).write_text("version: 1\ncategories:\n  refund: {words: [退款]}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown keys \['words'\]"):
        load_policy(tmp_path)


# ---- answers through a model that promises more than its case ------------------------------------

# C-2 (tests/conftest.py answer_lib): 年付订阅超过30天不支持全额退款 … 提供按月折算的补偿方案
PROMISING = "raw:年付订阅超过30天不支持全额退款。 [C-2]\n年付订阅超过7天也可以全额退款。 [C-2]"


def test_a_model_answer_promising_what_its_case_does_not_is_flagged_logged_and_counted(llm_lib: Library) -> None:
    ChatStub.script = [PROMISING]
    a = Assistant(llm_lib, support_threshold=0.0).ask("年付订阅能退款吗")
    # the citation check passes it (most of its words are the case's); the promise check does not
    assert not a.abstained and "7天也可以全额退款" in a.answer and a.unsupported == 0
    [f] = a.promises
    assert (f.sentence, f.category, f.reason, f.missing) == ("年付订阅超过7天也可以全额退款。", "refund", "quantity",
                                                             ("7天",))
    assert a.to_dict()["promises"] == [f.to_dict()]
    ChatStub.script = ["raw:年付订阅超过30天不支持全额退款。 [C-2]"]
    assert Assistant(llm_lib, support_threshold=0.0).ask("年付订阅能退款吗").promises == []
    store, tenant = llm_lib.store, llm_lib.tenant
    assert store.flagged_count(tenant) == 1 and store.flagged_count("other") == 0
    [logged] = store.flagged_answers(tenant)
    assert logged.id == a.id and logged.promises == [f.to_dict()]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat(timespec="seconds")
    assert store.flagged_count(tenant, since=later) == 0
    report = flagged_report(store, tenant, days=7)
    assert (report["count"], report["categories"]) == (1, {"refund": 1})


def test_a_streamed_answer_carries_its_flags(llm_lib: Library) -> None:
    ChatStub.script = [PROMISING]
    [final] = [e["answer"] for e in Assistant(llm_lib, support_threshold=0.0).ask_stream("年付订阅能退款吗")
               if e["event"] == "answer"]
    assert [f.category for f in final.promises] == ["refund"]


def test_the_desk_count_on_both_databases(db_url: str) -> None:
    store = Store(db_url)
    flag = {"sentence": "退款会在7天内到账", "category": "deadline", "label": "时限", "reason": "quantity",
            "why": "x", "source": "C-1", "missing": ["7天"]}
    for n, flags in enumerate([[flag], [], [flag, flag], []]):
        store.log_answer("t", {"id": f"a{n}", "question": "q", "answer": "a", "citations": "[]", "abstained": False,
                               "support": 1.0, "engine": "openai:x", "promises": json.dumps(flags),
                               "flagged": bool(flags)})
    store.log_answer("u", {"id": "b", "question": "q", "answer": "a", "citations": "[]", "abstained": False,
                           "support": 1.0, "engine": "x", "promises": json.dumps([flag]), "flagged": True})
    store.log_answer("t", {"id": "old-style", "question": "q", "answer": "a", "citations": "[]", "abstained": True,
                           "support": 0.0, "engine": "x"})  # logged without the columns: not flagged
    assert store.flagged_count("t") == 2 and store.flagged_count("u") == 1
    assert {a.id for a in store.flagged_answers("t")} == {"a0", "a2"}
    assert flagged_report(store, "t")["categories"] == {"deadline": 3}
    store.close()


# ---- a draft's promises, for its reviewer ------------------------------------------------------

def test_a_draft_promising_what_no_approved_case_says_is_flagged(answer_lib: Library) -> None:
    draft = {"id": "CD-T-9", "title": "年付订阅退款", "source_tickets": ["T-1"],
             "problem": "客户要求退款。",
             "solution": "1. 说明退款规则\n2. 我们会在24小时内给您全额退款\n3. 年付订阅超过30天不支持全额退款",
             "outcome": "客户满意。"}
    payload = {"sentences": [{"section": "solution", "text": "我们会在24小时内给您全额退款", "sources": ["m1"]}]}
    flags = draft_flags(answer_lib, draft, payload)
    # m1 of T-1 ("打印机连不上网") does not say it; the sentence taken from C-2 is the library's own
    assert {(f["section"], f["sentence"], f["category"]) for f in flags} == {
        ("solution", "我们会在24小时内给您全额退款", "refund"), ("solution", "我们会在24小时内给您全额退款", "deadline")}
    assert all(f["source"] == "m1" for f in flags)
    flags = draft_flags(answer_lib, draft, None)  # no provenance: checked against the library
    assert {f["reason"] for f in flags} == {"library"} and all("C-2" in f["source"] for f in flags)


# ---- the command line ------------------------------------------------------------------------

def test_casepilot_ask_warns_and_casepilot_promises_lists(llm_lib: Library) -> None:
    home = str(llm_lib.settings.home)
    env = {"CASEPILOT_LLM": "openai:stub-model", "CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash",
           "CASEPILOT_ABSTAIN_BELOW": "0", "CASEPILOT_LLM_FALLBACK": ""}
    ChatStub.script = [PROMISING]
    r = run_cli("ask", "年付订阅能退款吗", "--home", home, env=env)
    assert r.returncode == 0, r.stderr
    assert "⚠ 1 sentence(s) commit to what their cited record does not say" in r.stdout
    assert "[退款] 年付订阅超过7天也可以全额退款。" in r.stdout
    r = run_cli("promises", "--home", home, "--json", env=env)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["count"] == 1 and body["answers"][0]["promises"][0]["missing"] == ["7天"]
    r = run_cli("promises", "list", "--home", home, env=env)
    assert "1 answer(s) of the last 30 days" in r.stdout and "⚠ [退款] 年付订阅超过7天也可以全额退款。" in r.stdout
    r = run_cli("promises", "check", "退款会在7天内到账", "--source", "退款3个工作日到账", "--home", home)
    assert r.returncode == 0 and "⚠ flagged: commits to 7天; the source does not say so" in r.stdout
    r = run_cli("promises", "policy", "--home", home)
    assert r.returncode == 0 and r.stdout == default_policy_text()
    Path(home, POLICY_FILE).write_text("version: 2\n", encoding="utf-8")
    r = run_cli("promises", "check", "退款", "--home", home)
    assert r.returncode == 1 and "promise_policy.yaml: version must be 1" in r.stderr


def test_the_http_flag_is_the_cores() -> None:
    from dataclasses import fields
    from typing import get_args

    from api.schemas.answers import PromiseOut
    from assistant.promises import REASONS, Flag

    assert list(PromiseOut.model_fields) == [f.name for f in fields(Flag)]
    assert get_args(PromiseOut.model_fields["reason"].annotation) == REASONS

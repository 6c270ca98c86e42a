"""Promises in the console (Debian's Chromium through tests/console_browser.py, the real server of
tests/console_env.py answering through the stub model of tests/stub_openai.py): the Ask screen's
warning on an answer that promises what its case does not, and the Review screen's marks on a
draft's sentence that promises what no approved record does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console_env import ConsoleEnv, console_server
from tests.stub_openai import ChatStub, chat_server
from tests.test_console_e2e import browser, page, sign_in  # noqa: F401  (fixtures of the console's tests)

# C-000120 says bank refunds take 7~15 working days; the model promises 3
PROMISING = "raw:信用卡原路退款通常 3 个工作日内到账。 [C-000120]"
QUESTION = "信用卡退款审批后多久到账？"
PROMISE_TICKET = {
    "kind": "ticket", "id": "T-E2E-PROMISE", "subject": "打印机卡纸不进纸",
    "messages": [
        {"id": "m1", "role": "customer", "text": "买了三个月的 RP-M227dw 打印机卡纸后不进纸了。"},
        {"id": "m2", "role": "agent", "text": "请先打开后盖取出卡住的纸，再清洁搓纸轮。"},
        {"id": "m3", "role": "agent", "text": "另外已为您申请50元优惠券补偿，24小时内到账。"},
        {"id": "m4", "role": "customer", "text": "清洁以后能进纸了，谢谢。"}]}


@pytest.fixture(scope="module")
def env(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleEnv]:  # noqa: F811
    mp = pytest.MonkeyPatch()
    with chat_server() as url:
        mp.setenv("OPENAI_BASE_URL", url)
        mp.setenv("OPENAI_API_KEY", "sk-test")
        with console_server(tmp_path_factory.mktemp("promises"), samples=0, llm="openai:stub-model",
                            tickets=[PROMISE_TICKET]) as e:
            e.settings.llm_fallback = ""
            yield e
    mp.undo()


def test_an_agent_sees_a_warning_on_an_answer_that_promises_more_than_its_case(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    sign_in(page, env, "agent")
    ChatStub.script = [PROMISING]
    page.get_by_test_id("question").fill(QUESTION)
    page.get_by_test_id("ask").click()
    answer = page.get_by_test_id("answer").last
    answer.wait_for()
    warning = answer.get_by_test_id("promise-warning")
    warning.wait_for()
    text = warning.inner_text()
    assert "1 句作出了引用来源中没有的承诺" in text and "信用卡原路退款通常 3 个工作日内到账" in text
    assert "C-000120 中没有：3 个工作日" in text
    assert warning.locator("li").get_attribute("data-category") == "deadline"
    ChatStub.script = ["raw:银行入账通常需要 7~15 个工作日。 [C-000120]"]  # what the case says: no warning
    page.get_by_test_id("question").fill(QUESTION)
    page.get_by_test_id("ask").click()
    page.get_by_test_id("answer").nth(1).wait_for()
    assert page.get_by_test_id("answer").nth(1).get_by_test_id("promise-warning").count() == 0


def test_a_reviewer_sees_the_drafts_unsupported_promise_marked(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    sign_in(page, env, "reviewer")
    page.goto(f"{env.url}/console/#/review/{env.drafts['T-E2E-PROMISE']}")
    draft = page.get_by_test_id("draft")
    draft.wait_for()
    marked = draft.locator(".sent.promised")
    marked.first.wait_for()
    assert marked.count() == 1 and marked.inner_text().startswith("另外已为您申请50元优惠券补偿，24小时内到账。")
    assert set(marked.get_attribute("data-promise").split()) == {"compensation", "deadline"}
    notes = draft.locator("[data-section=solution] [data-testid=promise]")
    assert notes.count() == 2
    assert "⚠ 承诺未经证实：补偿" in notes.first.inner_text() + notes.last.inner_text()
    assert "已批准的案例和文章中没有相同的承诺" in notes.first.inner_text()
    assert draft.locator("[data-section=problem] [data-testid=promise]").count() == 0

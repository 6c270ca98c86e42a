"""Curated answers in the console (Debian's Chromium through tests/console_browser.py, the real server
of tests/console_env.py): a reviewer corrects an answer in Ask; an agent asking the same question in
other words gets it, labelled; the Library lists it with its hits, and a reviewer retires it; an agent
has no correct button."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console_env import ConsoleEnv, console_server
from tests.test_console_e2e import api, ask, browser, page, sign_in  # noqa: F401  (fixtures of the console's tests)

QUESTION = "发票抬头开错了怎么重开"
CORRECTED = "先在开票系统作废原发票（跨月的开红字发票），再按正确抬头重新开具并发给客户。"


@pytest.fixture(scope="module")
def env(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleEnv]:  # noqa: F811
    with console_server(tmp_path_factory.mktemp("curated"), samples=0) as e:
        yield e


def test_a_reviewer_corrects_an_answer_and_an_agent_gets_it(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    sign_in(page, env, "agent")
    turn = ask(page, QUESTION)
    assert turn.get_by_test_id("correct").count() == 0  # agents cannot curate
    assert turn.get_by_test_id("curated-label").count() == 0
    page.get_by_test_id("signout").click()

    sign_in(page, env, "reviewer")
    turn = ask(page, QUESTION)
    turn.get_by_test_id("correct").click()
    assert turn.get_by_test_id("correct-question").input_value() == QUESTION
    turn.get_by_test_id("correct-answer").fill(CORRECTED)
    turn.get_by_test_id("correct-save").click()
    turn.get_by_test_id("corrected").wait_for()
    assert "CA-1" in turn.get_by_test_id("corrected").inner_text()
    page.get_by_test_id("signout").click()

    sign_in(page, env, "agent")
    turn = ask(page, "發票抬頭開錯了，怎麼重開？")  # the same question in traditional characters
    label = turn.get_by_test_id("curated-label")
    label.wait_for()
    assert CORRECTED in turn.inner_text()
    assert "CA-1" in label.inner_text() and "审核员" in label.inner_text()
    page.get_by_test_id("signout").click()

    sign_in(page, env, "reviewer")
    page.goto(f"{env.url}/console/#/library")
    row = page.locator("[data-testid=curated-row][data-id=CA-1]")
    row.wait_for()
    assert row.get_by_test_id("curated-hits").inner_text() == "1" and QUESTION in row.inner_text()
    page.once("dialog", lambda d: d.accept())  # the confirmation
    page.get_by_test_id("retire-CA-1").click()
    page.locator("#toast").filter(has_text="审定答案 CA-1 已停用").wait_for()
    page.get_by_test_id("curated").get_by_text("还没有审定答案").wait_for()
    page.get_by_test_id("curated-retired").check()
    page.locator("[data-testid=curated-row][data-id=CA-1].status-retired").wait_for()
    with api(env, "agent") as c:
        assert c.post("/v1/ask", json={"question": QUESTION}).json()["curated"] is None

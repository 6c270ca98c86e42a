"""The case page's history in the console (Debian's Chromium through tests/console_browser.py, the
real server of tests/console_env.py): versions listed, a diff of two, a reviewer's restore, and an
agent who sees the history but no restore button."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console_env import ConsoleEnv, console_server
from tests.test_console_e2e import api, browser, page, sign_in  # noqa: F401  (fixtures of the console's tests)

CID = "C-000101"
NEW_SOLUTION = "1. 在路由器后台把 Mesh 回程改为有线\n2. 重新运行无线设置向导"


@pytest.fixture(scope="module")
def env(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleEnv]:  # noqa: F811
    with console_server(tmp_path_factory.mktemp("history"), samples=0) as e:
        yield e


def test_a_reviewer_compares_two_versions_and_restores_one(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    with api(env, "reviewer") as c:
        old = c.get(f"/v1/cases/{CID}").json()["data"]["solution"]
        r = c.post(f"/v1/review/{CID}/edit", json={"edits": {"solution": NEW_SOLUTION, "severity": "P1"}})
        assert r.status_code == 200 and r.json()["version"] == 2, r.text
    sign_in(page, env, "agent")  # an agent reads the history of an approved case, and cannot restore
    page.goto(f"{env.url}/console/#/case/{CID}")
    history = page.get_by_test_id("history")
    history.get_by_test_id("version").first.wait_for()
    assert history.get_by_test_id("version").count() == 2
    assert page.locator("[data-testid^=restore-]").count() == 0
    page.get_by_test_id("signout").click()

    sign_in(page, env, "reviewer")
    page.goto(f"{env.url}/console/#/case/{CID}")
    history = page.get_by_test_id("history")
    rows = history.get_by_test_id("version")
    rows.first.wait_for()
    assert rows.first.get_attribute("data-version") == "2"
    assert "解决方案与操作步骤" in rows.first.inner_text() and "级别" in rows.first.inner_text()
    diff = page.get_by_test_id("history-diff")
    diff.locator("[data-field=solution]").wait_for()  # v1 → v2 shown at once
    assert diff.locator("[data-field=solution] .add").first.inner_text().startswith("+1. 在路由器后台把 Mesh")
    assert diff.locator("[data-field=severity]").count() == 1
    page.get_by_test_id("from-2").check()  # the same version on both sides: nothing to compare
    diff.get_by_text("选择两个不同的版本").wait_for()
    page.get_by_test_id("from-1").check()
    diff.locator("[data-field=solution]").wait_for()

    page.once("dialog", lambda d: d.accept())  # the confirmation
    page.get_by_test_id("restore-1").click()
    page.locator("#toast").filter(has_text="已恢复版本 1，成为版本 3").wait_for()
    page.locator("[data-testid=version][data-version='3']").wait_for()  # the page shows the new version
    assert "恢复" in page.locator("[data-testid=version][data-version='3']").inner_text()
    assert "版本 3" in page.get_by_test_id("case").locator(".meta").inner_text()
    assert page.locator("[data-testid=restore-3]").count() == 0  # the current one has no restore button
    with api(env, "reviewer") as c:
        now = c.get(f"/v1/cases/{CID}").json()
        assert now["version"] == 3 and now["data"]["solution"] == old and now["status"] == "approved"

"""The console's Desk screen (Debian's Chromium through tests/console_browser.py, the real server of
tests/console_env.py): a reviewer sees this period's questions drawn by the vendored chart library with
the numbers GET /v1/stats gives, the products against the period before, and changes the period; an
agent has no desk."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.console_env import ConsoleEnv, console_server
from tests.test_console_e2e import api, browser, page, sign_in  # noqa: F401  (fixtures of the console's tests)

QUESTIONS = [("客户的打印机连不上WiFi，路由器只开了5G，怎么办？", True), ("发票抬头开错了怎么重开", False),
             ("速达国际件能寄带锂电池的蓝牙耳机去美国吗？", None)]


@pytest.fixture(scope="module")
def env(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleEnv]:  # noqa: F811
    with console_server(tmp_path_factory.mktemp("desk"), samples=0) as e:
        with api(e, "agent") as c:
            for q, helpful in QUESTIONS:
                a = c.post("/v1/ask", json={"question": q}).json()
                if helpful is not None:
                    c.post(f"/v1/answers/{a['id']}/feedback", json={"helpful": helpful})
        yield e


def chart_data(page: Any, testid: str) -> list[list[Any]]:  # noqa: F811
    """The datasets Chart.js drew on the canvas (its own record of the chart, read in the page)."""
    return page.evaluate(f"Chart.getChart(document.querySelector('[data-testid={testid}]'))"
                         ".data.datasets.map((d) => d.data)")


def test_a_reviewer_reads_the_desk_in_charts_and_tables(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    with api(env, "reviewer") as c:
        stats = c.get("/v1/stats", params={"days": 28, "limit": 10}).json()
    assert stats["questions"]["count"] == 3 and stats["rated"]["count"] == 2
    sign_in(page, env, "reviewer")
    page.get_by_test_id("nav-desk").click()
    page.locator("[data-testid=weekly-volume][data-ready='1']").wait_for()
    assert chart_data(page, "weekly-volume") == [stats["questions"]["weekly"], stats["tickets"]["weekly"]]
    rates = chart_data(page, "weekly-rates")
    assert rates[0][-1] == pytest.approx(100 * stats["answered_rate"]["weekly"][-1])
    assert rates[1][-1] == pytest.approx(100 * stats["helpful_rate"]["weekly"][-1])  # one of two rated helpful
    assert page.locator("canvas[data-testid=weekly-rates]").bounding_box()["height"] > 100  # drawn, not collapsed
    summary = page.get_by_test_id("desk-summary").inner_text()
    assert "本期 3 个问题" in summary and "有帮助 50%" in summary

    products = page.get_by_test_id("questions_by_product-table")
    first = stats["questions_by_product"][0]
    row = products.locator(f"tr[data-name='{first['name']}']")
    assert row.locator("td").nth(1).inner_text() == str(first["count"])
    assert chart_data(page, "questions_by_product")[0][0] == first["count"]
    assert page.get_by_test_id("desk-most-cited").locator("a").first.inner_text() == stats["most_cited"][0]["id"]
    assert page.get_by_test_id("desk-range").inner_text().startswith(stats["since"])

    page.get_by_test_id("desk-days").select_option("7")  # a shorter period: one or two weeks on the chart
    page.get_by_test_id("desk-range").filter(has_text=stats["until"]).wait_for()
    page.locator("[data-testid=weekly-volume][data-ready='1']").wait_for()
    assert len(chart_data(page, "weekly-volume")[0]) in (1, 2)

    page.get_by_test_id("lang").click()  # the same screen in English
    page.get_by_test_id("desk-summary").filter(has_text="3 questions this period").wait_for()


def test_an_agent_has_no_desk(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    sign_in(page, env, "agent")
    assert page.get_by_test_id("nav-desk").count() == 0
    page.goto(f"{env.url}/console/#/desk")  # typed by hand: the ask screen, not the desk
    page.get_by_test_id("question").wait_for()
    assert page.get_by_test_id("desk").count() == 0


def test_the_desk_shows_curated_answers_used_and_flagged_answers(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    with api(env, "reviewer") as c:
        made = c.post("/v1/curated", json={"question": "扫码枪扫不出条码怎么办", "answer": "先清洁扫描窗，再重新配对。"})
        assert made.status_code == 201, made.text
        for q in ("扫码枪扫不出条码怎么办", "扫码枪扫不出条码怎么办？"):  # the same wording twice: two hits
            assert c.post("/v1/ask", json={"question": q}).json()["engine"] == "curated"
        stats = c.get("/v1/stats", params={"days": 28}).json()
    assert stats["curated_hits"] == 2 and stats["curated"][0]["id"] == made.json()["id"]
    sign_in(page, env, "reviewer")
    page.get_by_test_id("nav-desk").click()
    row = page.get_by_test_id("desk-curated").locator(f"tr[data-id='{made.json()['id']}']")
    assert row.locator("td").nth(2).inner_text() == "2"
    assert "2" in page.get_by_test_id("desk-curated-hits").inner_text()
    assert str(stats["flagged_answers"]) in page.get_by_test_id("desk-flagged").inner_text()

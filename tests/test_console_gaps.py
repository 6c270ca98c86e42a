"""The desk's pictures in the web console, in Chromium through a real server (tests/test_console_e2e.py's
way): the gap groups on the Library screen with the agents' replies and the "draft an FAQ" action, a
likely duplicate's choice on the review screen, and the stale cases with their reasons. Each test
asserts what its screenshot in docs/screenshots/ shows (the scenes are tests/console_scenes.py's)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from assistant.gaps import cluster_key
from tests.console_env import ConsoleEnv, console_server
from tests.console_scenes import BATTERY, NO_REPLIES, duplicate_scene, gap_scene, stale_scene
from tests.test_console_e2e import TIMEOUT, api, browser, page, sign_in  # noqa: F401  (the console tests' fixtures)


@pytest.fixture(scope="module")
def env(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleEnv]:  # noqa: F811
    with console_server(tmp_path_factory.mktemp("console-gaps"), samples=0) as e:
        yield e


def test_gap_groups_show_the_agents_replies_and_draft_an_faq_for_review(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    answered = gap_scene(env)
    assert all(a["abstained"] for a in answered), [a["answer"] for a in answered]
    key = cluster_key(BATTERY)
    sign_in(page, env, "reviewer")
    page.get_by_test_id("nav-library").click()
    group = page.locator(f"[data-testid=gap-group][data-key='{key}']")
    group.wait_for()
    assert page.get_by_test_id("gap-group").first.get_attribute("data-key") == key  # most asked first
    assert group.get_by_test_id("gap-count").inner_text() == "3" and group.get_by_test_id("gap-trend").inner_text() == "+3"
    assert "T-GAP-1" in group.get_by_test_id("gap-tickets").inner_text()
    refs = [group.get_by_test_id("gap-reply").nth(i).get_attribute("data-ref")
            for i in range(group.get_by_test_id("gap-reply").count())]
    assert sorted(refs) == ["T-GAP-1#m3", "T-GAP-1#m4", "T-GAP-2#m2"]
    text = group.inner_text()
    assert "100Wh" in text and "客服小周" in text and "请稍等" not in text  # filler is not a reply
    lonely = page.locator(f"[data-testid=gap-group][data-key='{cluster_key(NO_REPLIES)}']")
    assert lonely.get_by_test_id("gap-noreplies").count() == 1 and lonely.get_by_test_id("gap-draft").is_disabled()

    group.get_by_test_id("gap-draft").click()
    cid = f"GD-{key}"
    page.locator(".toast").filter(has_text=cid).wait_for()
    link = group.get_by_test_id("gap-drafted")
    link.wait_for()
    assert cid in link.inner_text()
    with api(env, "reviewer") as c:
        assert cid in [q["id"] for q in c.get("/v1/review").json()["queue"]]
    link.click()
    draft = page.get_by_test_id("draft")
    draft.get_by_test_id("sourced").first.wait_for()
    assert page.locator(".detail-head .id", has_text=cid).count() == 1
    sources = {s for i in range(draft.get_by_test_id("sourced").count())
               for s in (draft.get_by_test_id("sourced").nth(i).get_attribute("data-sources") or "").split()}
    assert {"T-GAP-1#m3", "T-GAP-2#m2", "T-GAP-1#m4"} <= sources


def test_a_likely_duplicate_shows_the_choice_merge_or_approve_as_distinct(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    first, flagged = duplicate_scene(env)
    sign_in(page, env, "reviewer")
    page.goto(f"{env.url}/console/#/review/{flagged}")
    page.locator(".detail-head .id", has_text=flagged).wait_for()
    dups = page.get_by_test_id("duplicates")
    row = dups.locator("li", has_text=first)
    row.wait_for()
    assert row.get_by_test_id("merge").is_visible() and row.get_by_test_id("compare").is_visible()
    choice = page.get_by_test_id("distinct-form")
    assert choice.is_visible() and page.get_by_test_id("approve-distinct").is_visible()
    assert page.get_by_test_id("distinct-reason").is_editable()
    with api(env, "reviewer") as c:
        assert c.post(f"/v1/review/{flagged}/approve", json={}).json()["code"] == "duplicate_draft"


def test_the_stale_list_shows_each_case_with_its_reasons(page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    stale = stale_scene(env)
    sign_in(page, env, "reviewer")
    page.get_by_test_id("nav-review").click()
    row = page.get_by_test_id("stale").locator("li", has_text=stale).first
    row.locator("li", has_text="雲賬通 is now 2.0; the case was written for 1.0").wait_for()
    assert row.locator("a").first.get_attribute("href", timeout=TIMEOUT).endswith(stale)

"""The console records the citations an agent opens from an answer (a weak positive for the ratings'
prior, docs/ranking.md): Chromium through the real server, as tests/test_console_e2e.py does."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console_env import ConsoleEnv, console_server
from tests.test_console_e2e import api, ask, browser, page, sign_in  # noqa: F401 (fixtures)

QUESTION = "客户的打印机连不上WiFi，路由器只开了5G，怎么办？"


@pytest.fixture(scope="module")
def env(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleEnv]:  # noqa: F811
    saved = os.environ.get("CASEPILOT_RATING_PRIOR")
    os.environ["CASEPILOT_RATING_PRIOR"] = "true"  # the server's settings read it: the prior is off by default
    try:
        with console_server(tmp_path_factory.mktemp("console-ratings"), samples=0) as e:
            yield e
    finally:
        if saved is None:
            os.environ.pop("CASEPILOT_RATING_PRIOR", None)
        else:
            os.environ["CASEPILOT_RATING_PRIOR"] = saved


def opens(env: ConsoleEnv, answer_id: str) -> list[tuple[str, str]]:
    return [(o.record_id, o.rater) for o in env.app.state.casepilot.store.opens("default") if o.answer_id == answer_id]


def test_opening_a_citation_is_recorded_once_and_lifts_it_for_the_same_question(
        page: Any, env: ConsoleEnv) -> None:  # noqa: F811
    sign_in(page, env, "agent")
    answer = ask(page, QUESTION)
    answer_id = answer.get_attribute("data-answer-id")
    cite = answer.get_by_test_id("cite").first
    cited = cite.get_attribute("data-id")
    cite.click()
    page.get_by_test_id("case").wait_for()
    with api(env, "agent") as c:
        key_id = env.keys["agent"].split("_")[1]
        for _ in range(100):  # the open is posted as the case opens
            if opens(env, answer_id):
                break
            time.sleep(0.05)
        assert opens(env, answer_id) == [(cited, f"api:{key_id}")]
        page.get_by_test_id("back").click()
        page.get_by_test_id("answer").first.get_by_test_id("cite").first.click()  # the same link again
        page.get_by_test_id("case").wait_for()
        time.sleep(0.5)
        assert len(opens(env, answer_id)) == 1
        hits = c.post("/v1/search", json={"query": QUESTION, "k": 5, "explain": True}).json()["results"]
    prior = {h["id"]: h["explain"].get("prior") for h in hits}
    assert prior[cited] == {"factor": pytest.approx(1.25 ** 0.1244, abs=1e-3), "net": 0.25, "raters": 1}

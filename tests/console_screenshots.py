"""``make screenshots``: PNGs of each console screen into docs/screenshots/, from a server on loopback
over the sample library (tests/console_env.py) and Debian's Chromium (tests/console_browser.py)."""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from assistant.store import Store
from tests.console_browser import chromium, missing
from tests.console_env import console_server
from tests.console_scenes import duplicate_scene, gap_scene, stale_scene

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def prime(url: str, key: str) -> None:
    """Answers, ratings and unanswered questions, so the library's lists have something to show."""
    h = {"Authorization": f"Bearer {key}"}
    rated = [("发票抬头开错了怎么重开", True), ("客户的打印机连不上WiFi，路由器只开了5G，怎么办？", True),
             ("扫码枪读不出条码怎么办", False), ("发票抬头开错了怎么重开？已经交付了", False)]
    with httpx.Client(base_url=url, headers=h, timeout=60) as c:
        for q, helpful in rated:
            a = c.post("/v1/ask", json={"question": q}).json()
            c.post(f"/v1/answers/{a['id']}/feedback", json={"helpful": helpful})
        for q in ("速达国际件能寄带锂电池的蓝牙耳机去美国吗？", "门锁网关报 E-7788 配对失败怎么办？"):
            c.post("/v1/ask", json={"question": q})


def sign_in(page: object, url: str, key: str) -> None:
    page.goto(f"{url}/console/")  # type: ignore[attr-defined]
    page.get_by_test_id("key").fill(key)  # type: ignore[attr-defined]
    page.get_by_test_id("signin").click()  # type: ignore[attr-defined]
    page.get_by_test_id("nav-ask").wait_for()  # type: ignore[attr-defined]


def promise_shots(browser: object) -> None:
    """An answer that promises more than its case (the stub model says 3 working days where C-000120
    says 7~15), and a draft whose agent promised compensation no approved record offers."""
    from tests.stub_openai import ChatStub, chat_server
    from tests.test_console_promises import PROMISE_TICKET, PROMISING, QUESTION

    with tempfile.TemporaryDirectory() as d, chat_server() as url:
        saved = {k: os.environ.get(k) for k in ("OPENAI_BASE_URL", "OPENAI_API_KEY")}
        os.environ.update({"OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-screenshots"})
        try:
            with console_server(Path(d), samples=0, llm="openai:stub-model", tickets=[PROMISE_TICKET]) as env:
                page = browser.new_page()  # type: ignore[attr-defined]
                sign_in(page, env.url, env.keys["reviewer"])
                ChatStub.script = [PROMISING]
                page.get_by_test_id("question").fill(QUESTION)
                page.get_by_test_id("ask").click()
                page.get_by_test_id("promise-warning").wait_for()
                page.get_by_test_id("answer").screenshot(path=OUT / "promise-answer.png")
                page.goto(f"{env.url}/console/#/review/{env.drafts['T-E2E-PROMISE']}")
                page.locator(".sent.promised").wait_for()
                page.get_by_test_id("draft").screenshot(path=OUT / "promise-draft.png")
                page.close()
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
def shoot_curated(page: object, url: str, keys: dict[str, str]) -> None:
    """Curated answers: one corrected through the API, asked twice in other words, then the agent's
    answer with its label and the Library's list with the hits."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {keys['reviewer']}"}, timeout=60) as c:
        wrong = c.post("/v1/ask", json={"question": "发票抬头开错了怎么重开"}).json()
        c.post("/v1/curated", json={"from_answer": wrong["id"], "answer": (
            "先在开票系统作废原发票（跨月的开红字发票），再按正确抬头重新开具，并把新发票发给客户。")})
        for q in ("發票抬頭開錯了，怎麼重開？", "发票抬头开错了怎么重开!"):
            c.post("/v1/ask", json={"question": q})
    page.goto(f"{url}/console/#/ask")  # type: ignore[attr-defined]
    page.get_by_test_id("question").fill("发票抬头开错了，怎么重开？")  # type: ignore[attr-defined]
    page.get_by_test_id("ask").click()  # type: ignore[attr-defined]
    page.get_by_test_id("curated-label").last.wait_for()  # type: ignore[attr-defined]
    page.get_by_test_id("answer").last.screenshot(path=OUT / "ask-curated.png")  # type: ignore[attr-defined]
    page.goto(f"{url}/console/#/library")  # type: ignore[attr-defined]
    page.get_by_test_id("curated-table").wait_for()  # type: ignore[attr-defined]
    page.locator("#curated").screenshot(path=OUT / "curated.png")  # type: ignore[attr-defined]
def history(store: Store, weeks: int = 8) -> None:
    """Earlier weeks for the Desk's charts: the sample questions asked again on past days, citing the
    sample cases of their product lines, some rated (made up for the picture, logged through the store)."""
    rng = random.Random(25)
    cases = [r for r in store.records("default", kind="case") if r.status == "approved"]
    now = datetime.now(UTC)
    rows = []
    for n in range(weeks * 25):
        days = rng.uniform(1, weeks * 7)
        cited = [] if rng.random() < 0.12 + 0.1 * (days < 14) else rng.sample(cases, rng.randint(1, 2))
        rows.append({"id": f"history-{n}", "ticket_id": None, "question": cited[0].title if cited else "无法回答的问题",
                     "answer": "", "citations": json.dumps([{"id": c.id, "quote": ""} for c in cited]),
                     "abstained": not cited, "support": 0.6, "engine": "extractive",
                     "created_at": (now - timedelta(days=days)).isoformat(timespec="seconds"),
                     "helpful": None if rng.random() < 0.6 else rng.random() < 0.8 - 0.2 * (days < 14)})
    store.log_answers("default", rows)


def shoot_desk(page: object, url: str) -> None:
    """The Desk screen (js/desk.js) over what ``prime`` asked and rated, and ``history``."""
    page.goto(f"{url}/console/#/desk")  # type: ignore[attr-defined]
    page.locator("[data-testid=weekly-rates][data-ready='1']").wait_for()  # type: ignore[attr-defined]
    page.locator("[data-testid=questions_by_product][data-ready='1']").wait_for()  # type: ignore[attr-defined]
    page.screenshot(path=OUT / "desk.png", full_page=True)  # type: ignore[attr-defined]


def main() -> int:
    why = missing()
    if why:
        print(f"make screenshots: {why}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d, console_server(Path(d)) as env, chromium() as browser:
        prime(env.url, env.keys["reviewer"])
        history(env.app.state.casepilot.store)
        page = browser.new_page()
        sign_in(page, env.url, env.keys["reviewer"])

        page.get_by_test_id("ticket").fill("T-2024-0301")
        page.get_by_test_id("set-ticket").click()
        page.get_by_test_id("question").fill("客户的打印机连不上WiFi，路由器只开了5G，怎么办？")
        page.get_by_test_id("ask").click()
        page.get_by_test_id("answer").first.wait_for()
        page.get_by_test_id("question").fill("速达国际件能寄带锂电池的蓝牙耳机去美国吗？")
        page.get_by_test_id("ask").click()
        page.get_by_test_id("abstained").wait_for()
        page.screenshot(path=OUT / "ask.png")

        page.get_by_test_id("answer").first.get_by_test_id("cite").first.click()
        page.get_by_test_id("stats").wait_for()
        page.screenshot(path=OUT / "case.png", full_page=True)

        page.goto(f"{env.url}/console/#/review/{env.drafts['T-2024-0308']}")
        page.get_by_test_id("draft").wait_for()
        page.get_by_test_id("compare").first.click()
        page.locator(".diffrow").first.wait_for()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=OUT / "review.png", full_page=True)

        page.goto(f"{env.url}/console/#/library")
        page.get_by_test_id("search-query").fill("E-4031 税号校验失败")
        page.get_by_test_id("explain-toggle").check()
        page.get_by_test_id("search").click()
        page.get_by_test_id("explain").first.wait_for()
        page.screenshot(path=OUT / "library-search.png")
        page.get_by_test_id("explain-toggle").uncheck()
        page.locator("input[type=number]").fill("2")
        page.get_by_test_id("search").click()
        page.get_by_test_id("hit").first.wait_for()
        page.get_by_test_id("gap-group").first.wait_for()
        page.get_by_test_id("most-table").wait_for()
        page.evaluate("document.getElementById('gaps').scrollIntoView()")
        page.evaluate("window.scrollBy(0, -60)")
        page.screenshot(path=OUT / "library-gaps.png")

        # a case's history: an edit made for the picture, then versions 1 and 2 compared
        with httpx.Client(base_url=env.url, headers={"Authorization": f"Bearer {env.keys['reviewer']}"},
                          timeout=60) as c:
            c.post("/v1/review/C-000101/edit", json={"edits": {
                "solution": "1. 在路由器后台把 Mesh 回程改为有线\n2. 重新运行无线设置向导", "severity": "P2"}})
        page.goto(f"{env.url}/console/#/case/C-000101")
        page.get_by_test_id("history-diff").locator("[data-field=solution]").wait_for()
        page.get_by_test_id("history").scroll_into_view_if_needed()
        page.get_by_test_id("history").screenshot(path=OUT / "case-history.png")

        # the desk: gap groups with the agents' replies, a likely duplicate's choice, stale cases' reasons
        # (tests/test_console_gaps.py asserts what each shows)
        gap_scene(env)
        page.goto(f"{env.url}/console/#/library")
        page.get_by_test_id("gap-reply").first.wait_for()
        page.locator("#gaps").screenshot(path=OUT / "gap-groups.png")

        _, flagged = duplicate_scene(env)
        page.goto(f"{env.url}/console/#/review/{flagged}")
        page.locator(".detail-head .id", has_text=flagged).wait_for()
        page.get_by_test_id("distinct-form").wait_for()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=OUT / "review-duplicate.png", full_page=True)

        stale = stale_scene(env)
        page.goto(f"{env.url}/console/#/review")
        row = page.get_by_test_id("stale").locator("li", has_text=stale).first
        row.wait_for()
        row.scroll_into_view_if_needed()  # the list scrolls inside the side panel; the case is last
        page.locator("aside.side").screenshot(path=OUT / "stale-cases.png")
        shoot_curated(page, env.url, env.keys)
        shoot_desk(page, env.url)

        narrow = page  # the same tab: the key is kept per tab (sessionStorage)
        narrow.set_viewport_size({"width": 400, "height": 860})
        narrow.goto(f"{env.url}/console/#/review/{env.drafts['T-E2E-LOCK']}")
        narrow.get_by_test_id("draft").wait_for()
        narrow.screenshot(path=OUT / "narrow-review.png")
        promise_shots(browser)
    for p in sorted(OUT.glob("*.png")):
        print(p.relative_to(OUT.parent.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())

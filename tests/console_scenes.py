"""What the console's screenshots of the desk show, set up once for both ``make screenshots``
(tests/console_screenshots.py) and the browser tests that assert what each picture shows
(tests/test_console_gaps.py): gap groups with the agents' replies, a draft flagged as a likely
duplicate of an approved case, and stale cases with their reasons."""

from __future__ import annotations

from typing import Any

import httpx

from tests.console_env import ConsoleEnv

BATTERY = "速达国际件能寄带锂电池的蓝牙耳机去美国吗？"
# asked in the tickets the agents answered (tests/console_env.py GAP_TICKETS), and once without a ticket
GAP_ASKED = [(BATTERY, "T-GAP-1"), ("速達國際件能寄帶鋰電池的藍牙耳機去美國嗎", "T-GAP-2"), (BATTERY, None)]
NO_REPLIES = "冷库温控探头一直报警怎么办"  # logged as unanswered about no ticket: nothing to draft from


def gap_scene(env: ConsoleEnv) -> list[dict[str, Any]]:
    """Questions the library cannot answer, asked through the API (returns what it answered), and one
    logged without a ticket."""
    with httpx.Client(base_url=env.url, headers={"Authorization": f"Bearer {env.keys['reviewer']}"},
                      timeout=60) as c:
        out = []
        for q, ticket in GAP_ASKED:
            r = c.post("/v1/ask", json={"question": q, **({"ticket_id": ticket} if ticket else {})})
            r.raise_for_status()
            out.append(r.json())
    env.app.state.casepilot.store.log_answer("default", {
        "id": "scene-no-replies", "question": NO_REPLIES, "answer": "", "citations": "[]", "abstained": True,
        "support": 0.1, "engine": "extractive", "ticket_id": None})
    return out


SCANNER = "扫描仪进纸器每次都会同时吸进两张纸，扫描件老是漏页。"


def duplicate_scene(env: ConsoleEnv) -> tuple[str, str]:
    """An approved case drafted from one ticket, then a draft of another ticket about the same problem
    (flagged as its likely duplicate); returns (the approved case, the flagged draft)."""
    from assistant.records import parse_record
    from assistant.review import Review
    from ingestion.pipeline import Ingestor
    from tests.test_review import ticket

    steps = {"T-DUP-1": "1. 请关机后打开进纸器上盖，更换分纸垫",
             "T-DUP-2": "1. 请关机，用酒精棉清洁进纸滚轮表面的纸粉\n2. 清洁完重新扫描一份二十页的文档确认"}
    with env.app.state.casepilot.tenants.get("default").write() as lib:
        review = Review(lib, writer=Ingestor, actor="console-scenes")
        Ingestor(lib).ingest_records([parse_record(ticket(tid, messages=[
            {"id": "m1", "role": "customer", "text": SCANNER}, {"id": "m2", "role": "agent", "text": step},
            {"id": "m3", "role": "customer", "text": "好了，谢谢！"}])) for tid, step in steps.items()])
        first = review.draft("T-DUP-1")[1]
        assert first
        review.approve(first, "王审核", distinct_reason="the first of its kind")
        second = review.draft("T-DUP-2")[1]
    assert second
    return first, second


def stale_scene(env: ConsoleEnv) -> str:
    """An approved case written for 雲賬通 1.0 (traditional characters) when 云账通 is now 2.0; returns its id."""
    from assistant.records import parse_record
    from assistant.review import Review
    from ingestion.pipeline import Ingestor
    from tests.conftest import case

    with env.app.state.casepilot.tenants.get("default").write() as lib:
        Ingestor(lib).ingest_records([parse_record(case("C-STALE-TW", "雲賬通無法登入", product="雲賬通",
                                                        product_version="1.0"))])
        Review(lib, writer=Ingestor).set_product_version("云账通", "2.0")
    return "C-STALE-TW"

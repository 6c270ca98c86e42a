"""Stale cases that see what changed: a product written in traditional characters or full width,
newer tickets about a case's problem solved differently, and ratings that fall (real SQLite, Chroma,
bm25s; the hash embedder; tickets, answers and ratings written through the real code paths)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from assistant.answering import Assistant
from assistant.library import Library
from assistant.records import parse_record
from assistant.review import Review
from assistant.staleness import RECENT_DAYS, product_key
from assistant.store import schema
from ingestion.pipeline import Ingestor
from tests.conftest import case
from tests.test_review import ticket

LATER = timedelta(days=1)


def reasons(review: Review, cid: str, now: datetime | None = None) -> list[str]:
    return {r["id"]: r["reasons"] for r in review.stale(now=now or datetime.now(UTC) + LATER)}.get(cid, [])


def approved_scan_case(library: Library) -> tuple[Review, str]:
    """The scanner ticket drafted and approved: a case whose last approval is now."""
    Ingestor(library).ingest_records([parse_record(ticket("T-1"))])
    review = Review(library, writer=Ingestor, actor="drafting")
    _, cid = review.draft("T-1")
    assert cid
    review.approve(cid, "王审核")
    return review, cid


def test_products_are_compared_after_normalisation(library: Library) -> None:
    Ingestor(library).ingest_records([parse_record(c) for c in (
        case("C-TW", "雲賬通無法登入", product="雲賬通", product_version="1.0"),
        case("C-WIDE", "ＲＰ－Ｓ３００ 卡纸", product="ＲＰ－Ｓ３００", product_version="1.0"),
        case("C-NEW", "云账通登录", product="云账通", product_version="2.0"))])
    review = Review(library, writer=Ingestor)
    review.set_product_version("云账通", "2.0")
    review.set_product_version("rp-s300 ", "1.5")
    assert product_key("雲賬通") == product_key(" 云账通") and product_key("ＲＰ－Ｓ３００") == product_key("rp - s300")
    assert any("雲賬通 is now 2.0" in x for x in reasons(review, "C-TW"))
    assert any("is now 1.5; the case was written for 1.0" in x for x in reasons(review, "C-WIDE"))
    assert reasons(review, "C-NEW") == []


def test_a_newer_ticket_solved_differently_flags_the_case(library: Library) -> None:
    review, cid = approved_scan_case(library)
    assert reasons(review, cid) == []
    problem = ticket("T-1")["messages"][:3]  # the same customer and the same questions
    Ingestor(library).ingest_records([parse_record(t) for t in (
        ticket("T-SAME", messages=[*problem,
                                   {"id": "m4", "role": "agent", "text": "1. 请关机后打开进纸器上盖，更换分纸垫\n"
                                    "2. 在设置里把双张检测打开\n3. 重新扫描一份二十页的文档确认"},
                                   {"id": "m5", "role": "customer", "text": "好了，谢谢！"}]),
        ticket("T-FIRMWARE", messages=[*problem,
                                       {"id": "m4", "role": "agent", "text": "请到官网下载扫描仪固件3.2版本升级，"
                                        "升级完成后重启扫描仪"},
                                       {"id": "m5", "role": "customer", "text": "升级固件以后好了，谢谢！"}]),
        ticket("T-OTHER", subject="发票怎么开", messages=[
            {"id": "m1", "role": "customer", "text": "请问电子发票在哪里下载？"},
            {"id": "m2", "role": "agent", "text": "请登录官网，在订单页面点击下载电子发票。"},
            {"id": "m3", "role": "customer", "text": "找到了，谢谢！"}]))])
    found = reasons(review, cid)
    assert len(found) == 1, found
    assert found[0].startswith("newer ticket T-FIRMWARE (") and "solved differently: 请到官网下载扫描仪固件" in found[0]
    review.edit(cid, "王审核", {"solution": "1. 请关机后打开进纸器上盖，更换分纸垫\n2. 在设置里把双张检测打开\n"
                                           "3. 仍然双张进纸：到官网下载扫描仪固件3.2版本，升级完成后重启扫描仪"})
    assert reasons(review, cid) == []  # the case now says what the ticket did


def test_falling_ratings_flag_the_case(library: Library) -> None:
    review, cid = approved_scan_case(library)
    assistant = Assistant(library, support_threshold=0.0)
    answers = []
    for _ in range(6):
        a = assistant.ask("扫描仪进纸器同时吸进两张纸怎么办")
        assert cid in {c.id for c in a.citations}
        answers.append(a.id)
    for aid in answers[:3]:
        library.store.add_feedback(library.tenant, aid, True)
    old = (datetime.now(UTC) - timedelta(days=RECENT_DAYS + 30)).isoformat(timespec="seconds")
    with library.store.engine.begin() as conn:  # the first three were rated two months ago
        conn.execute(sa.update(schema.feedback).where(schema.feedback.c.answer_id.in_(answers[:3]))
                     .values(created_at=old))
    library.store.add_feedback(library.tenant, answers[3], True)
    library.store.add_feedback(library.tenant, answers[4], True)
    library.store.add_feedback(library.tenant, answers[5], False)
    now = datetime.now(UTC) + timedelta(minutes=1)
    assert reasons(review, cid, now) == []  # 2 of 3 after 3 of 3 is not a fall
    library.store.add_feedback(library.tenant, answers[4], False, "步骤不对")  # the newest rating counts
    assert reasons(review, cid, now) == [f"rated helpful 1 of 3 times in the last {RECENT_DAYS} days, "
                                         "against 3 of 3 before"]
    assert reasons(review, cid, now + timedelta(days=RECENT_DAYS + 1)) == []  # all of it earlier: no fall


def test_stale_from_the_command_line_shows_each_reason(tmp_path: Path) -> None:
    from tests.cli_run import run_cli
    from tests.conftest import write_jsonl

    env = {"CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash", "CASEPILOT_HOME": str(tmp_path / "h")}
    f = write_jsonl(tmp_path / "c.jsonl", [case("C-TW", "雲賬通無法登入", product="雲賬通", product_version="1.0")])
    assert run_cli("ingest", str(f), env=env).returncode == 0
    assert run_cli("review", "set-version", "云账通", "2.0", env=env).returncode == 0
    r = run_cli("review", "stale", env=env)
    assert r.returncode == 0 and "C-TW" in r.stdout and "雲賬通 is now 2.0; the case was written for 1.0" in r.stdout

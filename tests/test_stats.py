"""The desk's hot spots (assistant/stats.py): through a real store on SQLite and PostgreSQL, the migration
that fills its tables from an existing database, ``casepilot stats`` in-process, and ``GET /v1/stats``
on a real uvicorn server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.errors import InputError
from assistant.settings import Settings
from assistant.stats import desk_report, period_weeks, report_dict
from assistant.store import RecordWrite, Store
from assistant.store.answers import CitationStats
from assistant.store.engine import make_engine, upgrade_schema
from tests.cli_run import run_cli
from tests.test_api import Server

TODAY = date(2026, 12, 9)  # a Wednesday: the 28 days are 2026-11-12 (Thu) .. 2026-12-09


def at(days_ago: int, hour: int = 10) -> str:
    return f"{(TODAY - timedelta(days=days_ago)).isoformat()}T{hour:02d}:00:00+00:00"


def _case(rid: str, product: str, tags: list[str]) -> RecordWrite:
    return RecordWrite({"kind": "case", "id": rid, "title": f"案例 {rid}", "status": "approved", "product": product,
                        "tags": tags}, f"h-{rid}-{product}-{tags}")


def _ticket(tid: str, product: str, first_at: str) -> RecordWrite:
    return RecordWrite({"kind": "ticket", "id": tid, "subject": "s", "product": product, "status": "closed",
                        "messages": [{"id": "m1", "role": "customer", "text": "x", "at": first_at}]}, f"h-{tid}")


def _log(store: Store, tenant: str, aid: str, when: str, cited: list[str]) -> None:
    store.log_answer(tenant, {"id": aid, "ticket_id": None, "question": f"问题 {aid}", "answer": "",
                              "citations": json.dumps([{"id": c, "quote": ""} for c in cited]),
                              "abstained": not cited, "support": 0.5, "engine": "extractive", "created_at": when})


# (days before TODAY, cited records) of the answers fill logs
ANSWERS = [
    (0, ["C-P1", "C-P2"]), (1, ["C-P1"]), (6, ["C-P2", "C-B1"]), (20, ["C-P1", "C-X"]),  # now
    (0, []), (27, []),  # now, abstained
    (30, ["C-P1"]), (40, ["C-P1"]), (33, ["C-B1"]), (35, ["C-B2"]), (50, ["C-B1", "C-B2"]),  # before
    (56, ["C-P1"]),  # before both periods
]


def fill(store: Store, tenant: str = "t") -> None:
    """Printer questions grow (2 before, 4 now), billing ones fall (3 before, 1 now), two abstentions."""
    store.write(tenant, [
        _case("C-P1", "锐印 RP-M227dw", ["产品线/打印机", "问题类型/网络连接"]),
        _case("C-P2", "锐印 RP-M227dw", ["产品线/打印机"]),
        _case("C-B1", "雲賬通", ["产品线/计费系统"]),  # traditional spelling: one product with 云账通
        _case("C-B2", "云账通 ", ["产品线/计费系统"]),
        _case("C-X", "", ["问题类型/网络连接"]),
        _ticket("T-NOW", "云账通", "2026-12-08T23:30:00-02:00"),  # 2026-12-09 01:30 UTC: this week
        _ticket("T-OLD", "云账通", at(40)),
        _ticket("T-TZ", "锐印 RP-M227dw", "2026-11-11T23:30:00+00:00"),  # the day before the period
    ], actor="test")
    store.put_draft(tenant, "T-NOW", status="in_review", case_id="C-B1")  # its case's tags are the ticket's
    for n, (days_ago, cited) in enumerate(ANSWERS):
        _log(store, tenant, f"{tenant}-a{n}", at(days_ago), cited)
    store.add_feedback(tenant, f"{tenant}-a0", False)
    store.add_feedback(tenant, f"{tenant}-a0", True)  # the newest rating is the one counted
    store.add_feedback(tenant, f"{tenant}-a2", False)
    store.add_feedback(tenant, f"{tenant}-a6", True)


def by_name(rows: list[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    return {r["name"]: (r["count"], r["previous"]) for r in rows}


def check(out: dict[str, Any]) -> None:
    """What ``fill`` makes the report say, whichever door it came through."""
    assert (out["since"], out["until"], out["previous_since"]) == ("2026-11-12", "2026-12-09", "2026-10-15")
    assert [(w["week"], w["days"]) for w in out["weeks"]] == [
        ("2026-W46", 4), ("2026-W47", 7), ("2026-W48", 7), ("2026-W49", 7), ("2026-W50", 3)]
    q = out["questions"]
    assert (q["count"], q["previous"], q["change"], q["weekly"]) == (6, 5, 1, [1, 1, 0, 1, 3])
    assert out["answered"]["count"] == 4 and out["answered_rate"]["current"] == round(4 / 6, 3)
    assert out["answered_rate"]["weekly"] == [0.0, 1.0, None, 1.0, 0.667]
    assert (out["rated"]["count"], out["helpful"]["count"], out["helpful_rate"]["current"]) == (2, 1, 0.5)
    assert out["helpful_rate"]["previous"] == 1.0
    assert by_name(out["questions_by_product"]) == {"锐印 RP-M227dw": (4, 2), "雲賬通": (1, 3)}
    printer = out["questions_by_product"][0]
    assert (printer["change"], printer["change_pct"], printer["weekly"]) == (2, 100.0, [0, 1, 0, 1, 2])
    assert by_name(out["questions_by_tag"]) == {"产品线/打印机": (4, 2), "问题类型/网络连接": (3, 2),
                                                "产品线/计费系统": (1, 3)}
    assert out["questions_unattributed"]["count"] == 2  # the two abstentions
    assert (out["tickets"]["count"], out["tickets"]["previous"], out["tickets"]["weekly"][-1]) == (1, 2, 1)
    assert by_name(out["tickets_by_product"]) == {"云账通": (1, 1), "锐印 RP-M227dw": (0, 1)}
    assert by_name(out["tickets_by_tag"]) == {"产品线/计费系统": (1, 0)}
    assert out["answers_ranked"] == 6
    assert [(r["id"], r["cited"]) for r in out["most_cited"]] == [("C-P1", 3), ("C-P2", 2), ("C-B1", 1), ("C-X", 1)]
    # C-B1 and C-P2 share a not-helpful answer (a2); C-P1 and C-P2 a helpful one (a0)
    assert [(r["id"], r["helpful"], r["not_helpful"]) for r in out["lowest_rated"]] == [
        ("C-B1", 0, 1), ("C-P2", 1, 1), ("C-P1", 1, 0)]


def test_the_report_through_a_real_store(db_url: str) -> None:
    store = Store(db_url)
    fill(store)
    fill(store, "other")
    _log(store, "other", "other-extra", at(0), ["C-P1"])  # another tenant's answers never count here
    check(report_dict(desk_report(store, "t", today=TODAY)))
    assert report_dict(desk_report(store, "other", today=TODAY))["questions"]["count"] == 7
    assert desk_report(store, "t", today=TODAY, limit=1).groups["questions_by_tag"] == 3
    assert len(desk_report(store, "t", today=TODAY, limit=1).questions_by_tag) == 1
    # a record deleted since is left out of the lists of records, not out of the volume
    store.delete("t", ["C-P1"], actor="test")
    again = report_dict(desk_report(store, "t", today=TODAY))
    assert "C-P1" not in {r["id"] for r in again["most_cited"]} and again["questions"]["count"] == 6
    empty = report_dict(desk_report(store, "nobody", today=TODAY, days=7))
    assert empty["questions"]["weekly"] == [0, 0] and empty["answered_rate"]["current"] is None
    assert empty["questions_by_product"] == [] and empty["most_cited"] == []
    with pytest.raises(InputError):
        desk_report(store, "t", days=0)
    store.close()


def test_iso_weeks_are_cut_to_the_period() -> None:
    weeks = period_weeks(date(2026, 12, 28), date(2027, 1, 6))  # across a year: 2026-W53 is ISO's
    assert [(w.week, w.start, w.end, w.days) for w in weeks] == [
        ("2026-W53", "2026-12-28", "2027-01-03", 7), ("2027-W01", "2027-01-04", "2027-01-05", 2)]


def test_the_migration_fills_the_desk_from_an_existing_database(tmp_path: Path) -> None:
    """A database of the release before (0010) with answers, ratings and records: after the upgrade, the
    report says what it says about a database that was new."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    upgrade_schema(engine, "0010")
    new = Store(f"sqlite:///{tmp_path / 'new.db'}")
    fill(new)
    with new.engine.connect() as src, engine.begin() as dst:
        for table in ("records", "answers", "feedback", "drafts"):
            cols = [c.name for c in sa.Table(table, sa.MetaData(), autoload_with=dst).columns]
            rows = [{c: r._mapping[c] for c in cols} for r in src.execute(sa.text(f"SELECT * FROM {table}"))]
            dst.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                f"({', '.join(':' + c for c in cols)})"), rows)
    engine.dispose()
    old = Store(url)  # opening it upgrades it
    check(report_dict(desk_report(old, "t", today=TODAY)))
    assert old.citation_stats("t", "C-P1") == new.citation_stats("t", "C-P1") == CitationStats(6, 2, 0)
    old.close()
    new.close()


def test_stats_on_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Store(f"sqlite:///{home / 'casepilot.db'}") if home.mkdir() is None else None
    assert store is not None
    fill(store, "default")
    _log(store, "default", "today", f"{date.today().isoformat()}T00:00:01+00:00", ["C-P1"])
    store.close()
    env = {"CASEPILOT_HOME": str(home), "CASEPILOT_EMBEDDER": "hash"}
    ran = run_cli("stats", "--json", "--days", "7", env=env)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["days"] == 7 and out["until"] == date.today().isoformat() and out["questions"]["count"] >= 1
    assert {"questions_by_product", "most_cited", "helpful_rate", "weeks"} <= set(out)
    text = run_cli("stats", "--days", "7", env=env)
    assert text.returncode == 0, text.stderr
    assert "questions by product" in text.stdout and "锐印 RP-M227dw" in text.stdout and "C-P1" in text.stdout
    assert text.stdout.splitlines()[0].startswith("the desk, tenant default:")
    bad = run_cli("stats", "--days", "0", env=env)
    assert bad.returncode == 2 and "days is 1 to 366" in bad.stderr
    other = json.loads(run_cli("stats", "--json", "--tenant", "nobody", env=env).stdout)
    assert other["questions"]["count"] == 0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("stats-api") / "home"
    app = create_app(Settings(home=home, embedder="hash", passage_embedder="hash"), ApiSettings(rate_per_minute=0))
    store = app.state.casepilot.store
    keys = {r: create_key(app.state.casepilot.http, "t", r, r)["key"] for r in ("agent", "reviewer")}
    keys["other"] = create_key(app.state.casepilot.http, "other", "reviewer", "other")["key"]
    fill(store)
    _log(store, "t", "t-today", f"{date.today().isoformat()}T00:00:01+00:00", ["C-P1"])
    with Server(app) as srv:
        yield {"url": srv.url, "keys": keys, "store": store}


def _get(server: dict[str, Any], who: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(server["url"] + path, params=params, headers={"Authorization": f"Bearer {server['keys'][who]}"},
                     timeout=30)


def test_get_stats_on_a_real_server(server: dict[str, Any]) -> None:
    r = _get(server, "reviewer", "/v1/stats", days=90, limit=5)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["tenant"] == "t" and out["days"] == 90 and out["until"] == date.today().isoformat()
    assert out == report_dict(desk_report(server["store"], "t", days=90, limit=5))  # the core's report, as JSON
    today = date.today()  # the server's period ends on the real today, fill's dates around TODAY
    logged = sum(today - timedelta(days=89) <= TODAY - timedelta(days=d) <= today for d, _ in ANSWERS)
    assert out["questions"]["count"] == sum(out["questions"]["weekly"]) == logged + 1  # and t-today
    assert sum(w["days"] for w in out["weeks"]) == 90
    assert out["most_cited"][0]["id"] == "C-P1" and len(out["lowest_rated"]) <= 5
    # the same definition as the library's lists: over the same answers, the same records in the same order
    lib = _get(server, "reviewer", "/v1/library/stats", limit=5).json()
    assert [x["id"] for x in lib["most_cited"]] == [x["id"] for x in out["most_cited"]]
    assert _get(server, "other", "/v1/stats").json()["questions"]["count"] == 0  # the key's tenant only
    assert _get(server, "agent", "/v1/stats").status_code == 403
    assert _get(server, "reviewer", "/v1/stats", days=0).status_code == 422
    assert _get(server, "reviewer", "/v1/stats", days=367).status_code == 422
    assert httpx.get(server["url"] + "/v1/stats", timeout=30).status_code == 401


def test_the_desk_counts_promise_flags_and_curated_hits(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'desk.db'}")
    flags = json.dumps([{"sentence": "七天内全额退款", "category": "refund", "label": "退款", "reason": "uncited",
                         "why": "", "source": "", "missing": []}], ensure_ascii=False)
    for aid, days_ago, flagged in (("f-now", 2, True), ("f-old", 40, True), ("plain", 1, False)):
        store.log_answer("t", {"id": aid, "question": "退款多久到账", "answer": "七天内全额退款", "citations": "[]",
                               "abstained": False, "support": 0.5, "engine": "openai:x", "created_at": at(days_ago),
                               "promises": flags if flagged else "[]", "flagged": flagged})
    store.log_answer("other", {"id": "f-other", "question": "q", "answer": "a", "citations": "[]", "abstained": False,
                               "support": 0.5, "engine": "openai:x", "created_at": at(1), "promises": flags,
                               "flagged": True})
    used = store.add_curated("t", "发票抬头开错了怎么重开", "发票抬头开错了怎么重开", "作废后重开。", "审核员甲")
    idle = store.add_curated("t", "怎么改密码", "怎么改密码", "在设置里改。", "审核员甲")
    for _ in range(3):
        store.count_curated_hit("t", used.id)
    out = report_dict(desk_report(store, "t", today=TODAY))
    assert out["flagged_answers"] == 1  # the old one is before the period; the other tenant's is not ours
    assert out["curated_hits"] == 3
    assert [(u["id"], u["hits"]) for u in out["curated"]] == [(used.id, 3), (idle.id, 0)]
    assert report_dict(desk_report(store, "other", today=TODAY))["curated"] == []
    store.close()

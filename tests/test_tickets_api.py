"""POST /v1/tickets, a helpdesk's webhook, through the real app on a real uvicorn: a closed ticket is
stored and drafted as it arrives; who may post; a ticket lands in its key's tenant only; internal notes
stay out of the draft; a retried webhook changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from tests.conftest import BACKENDS
from tests.helpdesk_payloads import AGENT, PHONE, REQUESTER, SECRET, freshdesk_ticket, zendesk_ticket
from tests.test_api import Server, is_problem, settings_for


@pytest.fixture(scope="module", params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    settings = settings_for(tmp_path_factory.mktemp("tickets") / "home")
    if request.param == "postgresql":
        settings.database_url = request.getfixturevalue("postgres").database()
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    st = app.state.casepilot
    keys = {f"{t}-{r}": create_key(st.http, t, r)["key"] for t in ("A", "B") for r in ("agent", "reviewer", "admin")}
    with Server(app) as srv:
        yield {"url": srv.url, "keys": keys, "store": st.store}


def post(env: dict[str, Any], who: str, body: Any) -> httpx.Response:
    return httpx.post(f"{env['url']}/v1/tickets", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {env['keys'][who]}"})


def trigger(tid: int, status: str, *, note: bool = True) -> dict[str, Any]:
    """The payload of the Zendesk trigger in docs/importing.md, as Zendesk renders it (text placeholders)."""
    comments = [("1", REQUESTER, "end-user", "true", f"打印机连不上WiFi，电话{PHONE}"),
                ("2", AGENT, "agent", "true", "请问路由器是否只开了5GHz频段？"),
                ("3", REQUESTER, "end-user", "true", "是的，只开了5GHz。"),
                ("4", AGENT, "agent", "false", SECRET),
                ("5", AGENT, "agent", "true", "请登录路由器后台，开启2.4GHz频段，然后在打印机面板重新连接WiFi。"),
                ("6", REQUESTER, "end-user", "true", "好了，可以打印了，谢谢！")]
    return {"ticket": {"id": str(tid), "subject": "打印机连不上WiFi", "status": status, "priority": "high",
                       "requester_id": str(REQUESTER), "via": "Web form", "comments": [
                           {"id": c, "author_id": str(a), "author_role": role, "author_name": "王建国" if a == REQUESTER
                            else "客服小李", "public": pub, "plain_body": text, "created_at": f"2026-03-01 09:0{c}"}
                           for c, a, role, pub, text in comments if note or pub == "true"]}}


def test_a_solved_ticket_is_drafted_as_it_arrives(env: dict[str, Any]) -> None:
    r = post(env, "A-reviewer", trigger(100, "solved"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["ticket_id"] == "ZD-100" and out["stored"] == "added" and out["drafted"] == "drafted"
    assert out["case_id"] and out["internal_notes"] == 1 and out["redacted"]
    store = env["store"]
    case = store.get("A", out["case_id"])
    assert case.status == "in_review"
    text = "".join(str(case.data[k]) for k in ("title", "problem", "diagnosis", "solution", "outcome"))
    assert "2.4GHz" in text and "退款200元" not in text and "不要告诉客户" not in text
    ticket = store.get("A", "ZD-100").data
    assert PHONE not in str(ticket) and any(m.get("internal") for m in ticket["messages"])

    again = post(env, "A-reviewer", trigger(100, "solved"))  # Zendesk retries a webhook
    assert again.json()["drafted"] == "already_drafted" and again.json()["stored"] == "unchanged"
    assert again.json()["case_id"] == out["case_id"]


def test_an_open_ticket_is_stored_and_drafted_when_it_closes(env: dict[str, Any]) -> None:
    first = post(env, "A-admin", trigger(101, "open")).json()
    assert (first["stored"], first["drafted"], first["case_id"]) == ("added", "not_closed", None)
    assert env["store"].drafts("A", ticket_id="ZD-101") == []
    closed = post(env, "A-admin", trigger(101, "closed")).json()
    assert (closed["stored"], closed["drafted"]) == ("updated", "drafted")


def test_casepilot_and_freshdesk_tickets_and_a_skipped_one(env: dict[str, Any]) -> None:
    own = {"id": "T-500", "subject": "账单问题", "status": "closed",
           "messages": [{"id": "m1", "role": "customer", "text": "账单不对"}]}  # no agent reply: nothing to draft
    out = post(env, "A-reviewer", own).json()
    assert (out["ticket_id"], out["drafted"], out["case_id"]) == ("T-500", "skipped", None) and out["reason"]
    fd = post(env, "A-reviewer", freshdesk_ticket(77)).json()
    assert fd["ticket_id"] == "FD-77" and fd["drafted"] == "drafted" and fd["internal_notes"] == 1
    assert "退款200元" not in str(env["store"].get("A", fd["case_id"]).data)


def test_a_decided_draft_is_not_drafted_again(env: dict[str, Any]) -> None:
    out = post(env, "A-reviewer", trigger(102, "solved")).json()
    r = httpx.post(f"{env['url']}/v1/review/{out['case_id']}/approve", timeout=60,
                   headers={"Authorization": f"Bearer {env['keys']['A-reviewer']}"})
    assert r.status_code == 200, r.text
    reopened = trigger(102, "solved")
    reopened["ticket"]["comments"].append({"id": "7", "author_id": str(REQUESTER), "author_role": "end-user",
                                           "public": "true", "plain_body": "又连不上了"})
    again = post(env, "A-reviewer", reopened).json()
    assert again["stored"] == "updated" and again["drafted"] == "already_decided"
    assert env["store"].get("A", out["case_id"]).status == "approved"


def test_roles_and_tenants(env: dict[str, Any]) -> None:
    is_problem(post(env, "A-agent", trigger(200, "solved")), 403, "forbidden")
    r = httpx.post(f"{env['url']}/v1/tickets", json=trigger(200, "solved"), timeout=60)
    assert r.status_code == 401
    out = post(env, "B-reviewer", trigger(200, "solved")).json()
    assert out["drafted"] == "drafted"
    store = env["store"]
    assert store.get("B", "ZD-200") is not None and store.get("A", "ZD-200") is None
    assert store.get("A", out["case_id"]) is None
    # A's reviewer cannot draft, see or decide what B's key posted
    r = httpx.get(f"{env['url']}/v1/review/{out['case_id']}", timeout=60,
                  headers={"Authorization": f"Bearer {env['keys']['A-reviewer']}"})
    is_problem(r, 404)
    # the same helpdesk id posted with A's key is A's own ticket, apart from B's
    a = post(env, "A-reviewer", trigger(200, "open")).json()
    assert a["stored"] == "added" and store.get("B", "ZD-200").data["status"] == "solved"


def test_what_is_not_a_ticket(env: dict[str, Any]) -> None:
    no_comments = zendesk_ticket(300, comments=[])
    body = is_problem(post(env, "A-reviewer", no_comments), 422, "validation_error")
    assert "comments" in body["detail"]
    is_problem(post(env, "A-reviewer", {"hello": "world"}), 422)
    is_problem(post(env, "A-reviewer", [1, 2]), 422)
    r = httpx.post(f"{env['url']}/v1/tickets", content=b"{oops", timeout=60,
                   headers={"Authorization": f"Bearer {env['keys']['A-reviewer']}", "Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    r = httpx.post(f"{env['url']}/v1/tickets", content=Path(__file__).read_bytes()[:10], timeout=60,
                   headers={"Authorization": f"Bearer {env['keys']['A-reviewer']}", "Content-Type": "text/plain"})
    is_problem(r, 415)

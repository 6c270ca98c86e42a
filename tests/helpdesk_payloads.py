"""Helpdesk payloads shaped as the vendors document them (field names as in their API references):

* Zendesk: the Tickets API's ticket object, the Ticket Comments API's comment object and the Users
  API's user object (developer.zendesk.com/api-reference/ticketing/tickets/tickets/, .../ticket_comments/,
  .../users/users/), in the incremental export's envelope (``tickets``, ``users`` side-loaded,
  ``next_page``, ``end_of_stream``, ``end_time``) and, per line, as the account's JSON export;
* Freshdesk API v2: "View a Ticket" with ``include=conversations`` (developers.freshdesk.com/api/#view_a_ticket)
  and the conversation object of "List all conversations of a Ticket".

The internal notes say something a case must never repeat (``SECRET``), worded as an instruction so
that a drafter that did not leave them out would put them in the solution.
"""

from __future__ import annotations

from typing import Any

SECRET = "内部：请财务为该客户手动退款200元，不要告诉客户原因"
PHONE = "13812345678"
REQUESTER, AGENT = 20978392, 235323


def zendesk_comment(cid: int, author: int, text: str, *, public: bool = True, at: str = "2026-03-01T09:00:00Z"
                    ) -> dict[str, Any]:
    return {"id": cid, "type": "Comment", "author_id": author, "body": text, "html_body": f"<div><p>{text}</p></div>",
            "plain_body": text, "public": public, "attachments": [], "audit_id": cid * 10,
            "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}}, "created_at": at,
            "metadata": {"system": {"client": "Mozilla/5.0", "ip_address": "1.1.1.1"}, "custom": {}}}


def zendesk_ticket(tid: int, *, status: str = "solved", comments: list[dict[str, Any]] | None = None,
                   **kw: Any) -> dict[str, Any]:
    comments = comments if comments is not None else [
        zendesk_comment(1, REQUESTER, f"打印机连不上WiFi了，搜不到家里的网络。我的电话{PHONE}"),
        zendesk_comment(2, AGENT, "请问打印机是什么型号？路由器是否只开了5GHz频段？", at="2026-03-01T09:03:00Z"),
        zendesk_comment(3, REQUESTER, "型号是RP-M227，路由器只开了5GHz。", at="2026-03-01T09:05:00Z"),
        zendesk_comment(4, AGENT, SECRET, public=False, at="2026-03-01T09:06:00Z"),
        zendesk_comment(5, AGENT, "请登录路由器后台，开启2.4GHz频段，然后在打印机面板重新连接WiFi。",
                        at="2026-03-01T09:08:00Z"),
        zendesk_comment(6, REQUESTER, "好了，可以打印了，谢谢！", at="2026-03-01T09:20:00Z"),
    ]
    t = {"url": f"https://example.zendesk.com/api/v2/tickets/{tid}.json", "id": tid, "external_id": None,
         "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": None}},
         "created_at": "2026-03-01T09:00:00Z", "updated_at": "2026-03-01T09:20:00Z", "type": "problem",
         "subject": "打印机连不上WiFi", "raw_subject": "打印机连不上WiFi", "description": comments[0]["body"] if comments
         else "", "priority": "high", "status": status, "recipient": None, "requester_id": REQUESTER,
         "submitter_id": REQUESTER, "assignee_id": AGENT, "organization_id": 10002, "group_id": 98738,
         "collaborator_ids": [], "follower_ids": [], "email_cc_ids": [], "forum_topic_id": None, "problem_id": None,
         "has_incidents": False, "is_public": True, "due_at": None, "tags": ["printer", "wifi"], "custom_fields": [],
         "satisfaction_rating": {"score": "good"}, "sharing_agreement_ids": [], "fields": [], "followup_ids": [],
         "ticket_form_id": 6876543, "brand_id": 123, "allow_channelback": False, "allow_attachments": True,
         "comments": comments}
    t.update(kw)
    return t


def zendesk_users() -> list[dict[str, Any]]:
    return [{"id": REQUESTER, "url": f"https://example.zendesk.com/api/v2/users/{REQUESTER}.json", "name": "王建国",
             "email": "wangjg@example.com", "role": "end-user", "active": True, "verified": True},
            {"id": AGENT, "url": f"https://example.zendesk.com/api/v2/users/{AGENT}.json", "name": "客服小李",
             "email": "li@support.example.com", "role": "agent", "active": True, "verified": True}]


def zendesk_incremental(tickets: list[dict[str, Any]]) -> dict[str, Any]:
    """The incremental ticket export's page, with users side-loaded."""
    return {"tickets": tickets, "users": zendesk_users(), "count": len(tickets), "end_of_stream": True,
            "end_time": 1772356800, "next_page": "https://example.zendesk.com/api/v2/incremental/tickets.json"
            "?start_time=1772356800", "after_url": None, "after_cursor": None}


def freshdesk_conversation(cid: int, user: int, text: str, *, incoming: bool = False, private: bool = False,
                           at: str = "2026-03-02T10:00:00Z") -> dict[str, Any]:
    return {"body": f"<div>{text}</div>", "body_text": text, "id": cid, "incoming": incoming, "private": private,
            "user_id": user, "support_email": "support@example.freshdesk.com", "source": 2 if private else 0,
            "category": 2, "ticket_id": 20, "to_emails": [], "from_email": None, "cc_emails": [], "bcc_emails": [],
            "attachments": [], "created_at": at, "updated_at": at}


def freshdesk_ticket(tid: int, *, status: int = 5, **kw: Any) -> dict[str, Any]:
    t = {"cc_emails": [], "fwd_emails": [], "reply_cc_emails": [], "email_config_id": None, "fr_escalated": False,
         "group_id": None, "priority": 3, "requester_id": 1001, "responder_id": 2002, "source": 2, "spam": False,
         "status": status, "subject": "账单重复扣费", "company_id": None, "id": tid, "type": "Problem",
         "to_emails": None, "product_id": None, "created_at": "2026-03-02T10:00:00Z",
         "updated_at": "2026-03-02T11:00:00Z", "due_by": "2026-03-05T10:00:00Z", "fr_due_by": "2026-03-03T10:00:00Z",
         "is_escalated": False, "description": f"<div>本月账单扣了两次费，请帮忙处理。电话{PHONE}</div>",
         "description_text": f"本月账单扣了两次费，请帮忙处理。电话{PHONE}", "custom_fields": {}, "tags": [],
         "attachments": [],
         "conversations": [
             freshdesk_conversation(1, 2002, "请问扣费的时间和金额分别是多少？"),
             freshdesk_conversation(2, 1001, "3月1日扣了两次，每次99元。", incoming=True, at="2026-03-02T10:10:00Z"),
             freshdesk_conversation(3, 2002, SECRET, private=True, at="2026-03-02T10:12:00Z"),
             freshdesk_conversation(4, 2002, "已为您退回重复扣除的99元，请在3个工作日内查看账户。",
                                    at="2026-03-02T10:15:00Z"),
             freshdesk_conversation(5, 1001, "收到了，谢谢！", incoming=True, at="2026-03-02T10:50:00Z"),
         ]}
    t.update(kw)
    return t

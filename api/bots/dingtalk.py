"""DingTalk (钉钉) outgoing robot.

* Authentication: headers ``timestamp`` (milliseconds) and ``sign`` = base64 HMAC-SHA256(AppSecret,
  ``"{timestamp}\\n{AppSecret}"``), the timestamp within 1 hour (DingTalk's own rule). The sign does
  not cover the body, so a signature is bound to the first message (``msgId``) it came with: the same
  signature with another message is refused (see ``BotRuntime.handle``).
* A ``text`` message is a question; a group is one conversation (``conversationId``).
* Replies: a markdown message posted to the message's ``sessionWebhook`` (only when it is on the
  channel's API base, ``https://oapi.dingtalk.com`` by default, and not expired), else to the
  channel's configured webhook (``--webhook``). DingTalk markdown has no callback buttons: no
  feedback there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import httpx

from assistant.errors import InputError

from .common import (
    Ack,
    Channel,
    Endpoint,
    Incoming,
    Message,
    PlatformSpec,
    RawRequest,
    Refused,
    Reply,
    Setting,
    bad_signature,
    check_window,
    json_object,
    malformed,
    same,
    text_field,
)
from .outbound import Outbound, OutboundError

WINDOW = 3600.0
MARKDOWN_CHARS = 4000


def sign(app_secret: str, timestamp: str) -> str:
    digest = hmac.new(app_secret.encode(), f"{timestamp}\n{app_secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _origin(url: str) -> tuple[str, str, int | None]:
    u = httpx.URL(url)
    return u.scheme, u.host, u.port


class DingTalk:
    name = "dingtalk"
    default_api_base = "https://oapi.dingtalk.com"

    def check_config(self, secrets: dict[str, str], options: dict[str, Any]) -> None:
        if not secrets.get("app_secret"):
            raise InputError("dingtalk needs --secret (the robot's AppSecret)")

    def verify(self, channel: Channel, req: RawRequest, now: float) -> Incoming:
        ts, sig = req.headers.get("timestamp", ""), req.headers.get("sign", "")
        if not ts.isdigit() or not sig or not same(sign(channel.secrets["app_secret"], ts), sig):
            raise bad_signature("the timestamp and sign headers do not verify")
        if int(ts) < 10**11:  # before 1973 in milliseconds: a time in seconds
            raise Refused(401, "stale_request", f"the timestamp header {ts} looks like seconds; DingTalk "
                                                "signs the time in milliseconds")
        check_window(int(ts) / 1000, now, WINDOW)
        doc = json_object(req.body)
        msg_id = text_field(doc, "msgId")
        if not msg_id:
            raise malformed("a message needs msgId")
        created = doc.get("createAt")
        inc = Incoming(ack=Ack.json({"msgtype": "empty"}), event_id=msg_id,
                       created=created / 1000 if isinstance(created, int | float) else None,
                       signature=f"{ts}:{sig}")
        if doc.get("msgtype") != "text":
            return inc
        question = text_field(doc, "text", "content").strip()
        conversation = text_field(doc, "conversationId")
        if not conversation:
            raise malformed("a message needs conversationId")
        if question:
            expires = doc.get("sessionWebhookExpiredTime")
            inc.message = Message(question, conversation, {
                "session_webhook": text_field(doc, "sessionWebhook"),
                "expires": expires / 1000 if isinstance(expires, int | float) else None,
                "staff_id": text_field(doc, "senderStaffId")}, text_field(doc, "senderStaffId"))
        return inc

    def render(self, channel: Channel, reply: Reply) -> dict[str, Any]:
        tail = []
        if reply.cited:
            tail.append("> 来源：" + " · ".join(f"[{c}]({reply.links[c]})" if reply.links.get(c) else c
                                              for c in reply.cited))
        if reply.related:
            tail.append("> 最接近的记录：" + " · ".join((f"[{i}]({reply.links[i]})" if reply.links.get(i) else i)
                                                   + f" {t}" for i, t in reply.related))
        body = reply.linked(lambda rid, url: f"[{rid}]({url})")
        if len(body) > MARKDOWN_CHARS:
            body = body[:MARKDOWN_CHARS] + "…"
        text = body + ("\n\n" + "\n\n".join(tail) if tail else "")
        return {"msgtype": "markdown", "markdown": {"title": "casepilot", "text": text}}

    def send(self, out: Outbound, channel: Channel, target: dict[str, Any], payload: dict[str, Any]) -> None:
        base = channel.api_base(self.default_api_base)
        url = target.get("session_webhook") or ""
        expires = target.get("expires")
        usable = (url and _origin(url) == _origin(base) and (expires is None or expires > time.time()))
        if not usable:
            url = str(channel.secrets.get("webhook") or "")
        if not url:
            raise OutboundError(f"dingtalk {channel.id}: no usable sessionWebhook and no --webhook configured")
        body = dict(payload)
        if target.get("staff_id"):
            body["at"] = {"atUserIds": [target["staff_id"]]}
        r = out.request("POST", url, what=f"dingtalk {channel.id}", json=body)
        try:
            doc = r.json()
        except ValueError:
            raise OutboundError(f"dingtalk {channel.id}: the webhook answered no JSON") from None
        if not isinstance(doc, dict) or doc.get("errcode", 0) != 0:
            raise OutboundError(f"dingtalk {channel.id}: the webhook refused the message "
                                f"(errcode {doc.get('errcode') if isinstance(doc, dict) else '?'})")


# the platform as the registry (api/bots/__init__.py) sees it: the webhook routes and bots add come from it
SPEC = PlatformSpec(
    name="dingtalk", title="DingTalk", make=DingTalk,
    endpoints=(Endpoint("POST", "events", "/bots/dingtalk/{id}/events", "DingTalk outgoing robot webhook"),),
    settings=(Setting("secret", "app_secret", "the robot's AppSecret"),
              Setting("webhook", "webhook", "a robot webhook URL for replies when a message's sessionWebhook "
                                            "cannot be used (optional)")),
)

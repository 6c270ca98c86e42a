"""Slack (Events API and interactivity).

* Authentication: ``X-Slack-Signature`` = ``v0=`` + hex HMAC-SHA256(signing secret,
  ``v0:{X-Slack-Request-Timestamp}:{raw body}``), the timestamp within 5 minutes.
* ``url_verification`` is answered with its ``challenge``; ``app_mention`` events and direct
  messages (``message`` in an ``im``) are questions; the bot's own and edited messages are ignored.
* Replies: ``chat.postMessage`` in the message's thread, Block Kit ``mrkdwn`` with the cited case
  ids as links, and helpful / not-helpful buttons whose clicks come back to the interactivity
  endpoint (``block_actions``) and feed the feedback store; once a rating is recorded, the buttons
  are replaced by a note of it (``chat.update``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any
from urllib.parse import parse_qs

from assistant.errors import InputError

from .common import (
    Ack,
    Channel,
    Endpoint,
    Feedback,
    Incoming,
    Message,
    PlatformSpec,
    RawRequest,
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

WINDOW = 300.0
SECTION_LIMIT = 3000  # characters of one section block's text
HELPFUL, NOT_HELPFUL = "casepilot_helpful", "casepilot_not_helpful"
MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()


class Slack:
    name = "slack"
    default_api_base = "https://slack.com/api"

    def check_config(self, secrets: dict[str, str], options: dict[str, Any]) -> None:
        if not secrets.get("signing_secret"):
            raise InputError("slack needs --secret (the app's Signing Secret)")
        if not secrets.get("bot_token"):
            raise InputError("slack needs --bot-token (the Bot User OAuth Token, xoxb-...)")

    def verify(self, channel: Channel, req: RawRequest, now: float) -> Incoming:
        ts = req.headers.get("x-slack-request-timestamp", "")
        sig = req.headers.get("x-slack-signature", "")
        if not ts.isdigit() or not sig:
            raise bad_signature("X-Slack-Request-Timestamp and X-Slack-Signature are required")
        if not same(sign(channel.secrets["signing_secret"], ts, req.body), sig):
            raise bad_signature()
        check_window(float(ts), now, WINDOW)
        if req.kind == "interactions":
            return self._interaction(req.body)
        doc = json_object(req.body)
        kind = doc.get("type")
        if kind == "url_verification":
            challenge = doc.get("challenge")
            if not isinstance(challenge, str):
                raise malformed("url_verification without a challenge")
            return Incoming(ack=Ack.json({"challenge": challenge}))
        if kind != "event_callback":
            return Incoming()
        event = doc.get("event")
        event_id = doc.get("event_id")
        if not isinstance(event, dict) or not isinstance(event_id, str) or not event_id:
            raise malformed("an event_callback needs event_id and event")
        created = doc.get("event_time")
        inc = Incoming(event_id=event_id, created=float(created) if isinstance(created, int | float) else None)
        etype = event.get("type")
        is_dm = etype == "message" and event.get("channel_type") == "im"
        if (etype != "app_mention" and not is_dm) or event.get("bot_id") or event.get("subtype"):
            return inc  # not a question to the bot (its own messages, edits, other channels' chatter)
        text, chan, ts_ = text_field(event, "text"), text_field(event, "channel"), text_field(event, "ts")
        if not chan or not ts_:
            raise malformed("a message event needs channel and ts")
        thread = text_field(event, "thread_ts") or ts_
        question = MENTION.sub(" ", text).strip()
        if question:
            inc.message = Message(question, f"{chan}:{thread}", {"channel": chan, "thread_ts": thread},
                                  text_field(event, "user"))
        return inc

    def _interaction(self, body: bytes) -> Incoming:
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise malformed("an interaction is a form with a payload field") from None
        raw = form.get("payload", [""])[0]
        payload = json_object(raw.encode(), "the interaction payload")
        if payload.get("type") != "block_actions":
            return Incoming()
        actions = payload.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        action_id, value = text_field(action, "action_id"), text_field(action, "value")
        if action_id not in (HELPFUL, NOT_HELPFUL) or not value:
            return Incoming()
        click = text_field(payload, "trigger_id") or text_field(action, "action_ts")
        container, message = (v if isinstance(v := payload.get(k), dict) else {} for k in ("container", "message"))
        blocks = message.get("blocks")
        where = {"channel": text_field(container, "channel_id"),
                 "ts": text_field(container, "message_ts") or text_field(message, "ts"),
                 "blocks": blocks if isinstance(blocks, list) else None, "text": text_field(message, "text")}
        return Incoming(event_id=f"action:{click}" if click else "",
                        feedback=Feedback(value, action_id == HELPFUL,
                                          where if where["channel"] and where["ts"] and where["blocks"] else None,
                                          text_field(user, "id") if isinstance(user := payload.get("user"), dict)
                                          else ""))

    def render(self, channel: Channel, reply: Reply) -> dict[str, Any]:
        body = reply.linked(lambda rid, url: f"<{url}|{escape(rid)}>", escape)
        blocks: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": body[i:i + SECTION_LIMIT]}}
            for i in range(0, max(len(body), 1), SECTION_LIMIT)][:20]
        if reply.cited:
            refs = " · ".join(f"<{reply.links[c]}|{escape(c)}>" if reply.links.get(c) else f"`{escape(c)}`"
                              for c in reply.cited)
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"来源：{refs}"}]})
        if reply.related:
            refs = " · ".join((f"<{reply.links[i]}|{escape(i)}>" if reply.links.get(i) else f"`{escape(i)}`")
                              + f" {escape(t)}" for i, t in reply.related)
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"最接近的记录：{refs}"}]})
        if reply.answer_id:
            blocks.append({"type": "actions", "block_id": f"casepilot_feedback:{reply.answer_id}", "elements": [
                {"type": "button", "action_id": HELPFUL, "value": reply.answer_id, "style": "primary",
                 "text": {"type": "plain_text", "text": "👍 有帮助"}},
                {"type": "button", "action_id": NOT_HELPFUL, "value": reply.answer_id,
                 "text": {"type": "plain_text", "text": "👎 没帮助"}}]})
        return {"text": escape(reply.text[:3000]), "blocks": blocks, "unfurl_links": False}

    def send(self, out: Outbound, channel: Channel, target: dict[str, Any], payload: dict[str, Any]) -> None:
        self._call(out, channel, "chat.postMessage", {**target, **payload})

    def confirm_feedback(self, out: Outbound, channel: Channel, feedback: Feedback) -> None:
        """The rated answer's buttons become a note of the rating (``chat.update``), so the thread shows
        it was recorded and the buttons are not clicked again."""
        m = feedback.message
        if not m:
            return
        note = "👍 已记录：有帮助" if feedback.helpful else "👎 已记录：没帮助"
        blocks = [b for b in m["blocks"] if not (isinstance(b, dict) and b.get("type") == "actions")]
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]})
        self._call(out, channel, "chat.update", {"channel": m["channel"], "ts": m["ts"], "blocks": blocks,
                                                 "text": m.get("text") or note})

    def _call(self, out: Outbound, channel: Channel, method: str, body: dict[str, Any]) -> None:
        url = channel.api_base(self.default_api_base) + "/" + method
        r = out.request("POST", url, what=f"slack {channel.id}", json=body,
                        headers={"Authorization": f"Bearer {channel.secrets['bot_token']}"})
        try:
            doc = r.json()
        except json.JSONDecodeError:
            raise OutboundError(f"slack {channel.id}: {method} answered no JSON") from None
        if not isinstance(doc, dict) or doc.get("ok") is not True:
            error = doc.get("error") if isinstance(doc, dict) else None
            raise OutboundError(f"slack {channel.id}: {method} failed: {error or 'not ok'}")


# the platform as the registry (api/bots/__init__.py) sees it: the webhook routes and bots add come from it
SPEC = PlatformSpec(
    name="slack", title="Slack", make=Slack,
    endpoints=(Endpoint("POST", "events", "/bots/slack/{id}/events", "Slack Events API webhook"),
               Endpoint("POST", "interactions", "/bots/slack/{id}/interactions",
                        "Slack interactivity webhook (feedback buttons)")),
    settings=(Setting("secret", "signing_secret", "Signing Secret"),
              Setting("bot_token", "bot_token", "Bot User OAuth Token (xoxb-...)")),
)

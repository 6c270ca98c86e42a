"""Feishu / Lark event subscriptions (schema 2.0).

* Authentication: the Verification Token in every event (``header.token``). With an Encrypt Key
  set, the body is ``{"encrypt": base64(iv + AES-256-CBC(SHA256(encrypt key), PKCS7(json)))}`` and
  every event carries ``X-Lark-Signature`` = hex SHA256(timestamp + nonce + encrypt key + raw body),
  checked before the body is read, with ``X-Lark-Request-Timestamp`` within 5 minutes. The
  ``url_verification`` challenge (which Feishu sends unsigned) is answered once its token matches.
* ``im.message.receive_v1`` text messages are questions; ``card.action.trigger`` (a click on the
  answer card's helpful / not-helpful buttons) feeds the feedback store and answers with a toast.
* Replies: an interactive card through ``POST /open-apis/im/v1/messages/{message_id}/reply`` with a
  ``tenant_access_token`` (cached). The API base is ``https://open.feishu.cn``; Lark's is
  ``https://open.larksuite.com`` (``--api-base``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any

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
from .outbound import Outbound, OutboundError, json_reply

WINDOW = 300.0
TOKEN_ERRORS = {99991661, 99991663, 99991668}  # missing, invalid or expired access token
MENTION_KEY = re.compile(r"@_user_\d+")


def decrypt(encrypt_key: str, encrypted: str) -> bytes:
    """Feishu's AES-256-CBC: key = SHA256(encrypt key), the IV is the first 16 bytes, PKCS7 padding."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise malformed("encrypt is not base64") from None
    if len(raw) < 32 or len(raw) % 16:
        raise malformed("encrypt is not AES-CBC ciphertext")
    key = hashlib.sha256(encrypt_key.encode()).digest()
    # lazy: the CLI loads this module for its SPEC, and cryptography costs every command 25 ms
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    d = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
    plain = d.update(raw[16:]) + d.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise malformed("encrypt does not decrypt with this channel's Encrypt Key")
    return plain[:-pad]


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


class Feishu:
    name = "feishu"
    default_api_base = "https://open.feishu.cn"

    def check_config(self, secrets: dict[str, str], options: dict[str, Any]) -> None:
        if not secrets.get("verification_token"):
            raise InputError("feishu needs --secret (the event subscription's Verification Token)")
        if not options.get("app_id") or not secrets.get("app_secret"):
            raise InputError("feishu needs --app-id and --app-secret (to reply as the app)")

    def verify(self, channel: Channel, req: RawRequest, now: float) -> Incoming:
        key = channel.secrets.get("encrypt_key", "")
        token = channel.secrets["verification_token"]
        signed = False
        if key:
            ts = req.headers.get("x-lark-request-timestamp", "")
            nonce = req.headers.get("x-lark-request-nonce", "")
            sig = req.headers.get("x-lark-signature", "")
            if ts or nonce or sig:  # a signed event: check it before reading the body
                if not ts.isdigit() or not sig or not same(signature(ts, nonce, key, req.body), sig):
                    raise bad_signature()
                check_window(float(ts), now, WINDOW)
                signed = True
            envelope = json_object(req.body)
            encrypted = envelope.get("encrypt")
            if not isinstance(encrypted, str):
                raise (malformed("this channel has an Encrypt Key: events come encrypted") if signed
                       else bad_signature("X-Lark-Signature is required"))
            try:
                plain = decrypt(key, encrypted)
                doc = json_object(plain, "the decrypted event")
            except Refused:
                if signed:
                    raise
                # unsigned: decryption is the authentication, and every way it fails must look the same
                # (a different answer for bad padding and for bad JSON would be a padding oracle)
                raise bad_signature("the body does not decrypt with this channel's Encrypt Key") from None
        else:
            doc = json_object(req.body)
        if doc.get("type") == "url_verification":
            if not same(text_field(doc, "token"), token):
                raise bad_signature("the Verification Token does not match")
            return Incoming(ack=Ack.json({"challenge": text_field(doc, "challenge")}))
        if key and not signed:
            raise bad_signature("X-Lark-Signature is required")
        header = doc.get("header")
        if doc.get("schema") != "2.0" or not isinstance(header, dict):
            if not same(text_field(doc, "token"), token):
                raise bad_signature("the Verification Token does not match")
            return Incoming()  # a schema 1.0 event: subscribe with 2.0
        if not same(text_field(header, "token"), token):
            raise bad_signature("the Verification Token does not match")
        event_id = text_field(header, "event_id")
        event = doc.get("event")
        if not event_id or not isinstance(event, dict):
            raise malformed("an event needs header.event_id and event")
        created = text_field(header, "create_time")
        inc = Incoming(event_id=event_id, created=int(created) / 1000 if created.isdigit() else None)
        etype = text_field(header, "event_type")
        if etype == "card.action.trigger":
            value = event.get("action", {}).get("value") if isinstance(event.get("action"), dict) else None
            if isinstance(value, dict) and value.get("casepilot") in ("helpful", "not_helpful"):
                operator = event.get("operator") if isinstance(event.get("operator"), dict) else {}
                inc.feedback = Feedback(str(value.get("answer_id") or ""), value["casepilot"] == "helpful",
                                        user=text_field(operator, "open_id") or text_field(operator, "user_id"))
                inc.ack = Ack.json({"toast": {"type": "success", "content": "已记录，谢谢反馈"}})
                inc.feedback_failed = Ack.json({"toast": {"type": "error", "content": "这条回答已无法评价"}})
            return inc
        if etype != "im.message.receive_v1":
            return inc
        msg = event.get("message")
        if not isinstance(msg, dict) or text_field(event, "sender", "sender_type") == "app":
            return inc
        if text_field(msg, "message_type") != "text":
            return inc
        message_id, chat_id = text_field(msg, "message_id"), text_field(msg, "chat_id")
        if not message_id:
            raise malformed("a message needs message_id")
        try:
            content = json.loads(text_field(msg, "content") or "{}")
        except ValueError:
            raise malformed("message.content is not JSON") from None
        question = MENTION_KEY.sub(" ", text_field(content, "text")).strip()
        thread = text_field(msg, "root_id") or message_id
        if question:
            inc.message = Message(question, f"{chat_id}:{thread}", {"message_id": message_id},
                                  text_field(event, "sender", "sender_id", "open_id"))
        return inc

    def render(self, channel: Channel, reply: Reply) -> dict[str, Any]:
        def esc(s: str) -> str:
            return s.replace("<", "&lt;").replace(">", "&gt;")

        elements: list[dict[str, Any]] = [{"tag": "markdown",
                                           "content": reply.linked(lambda rid, url: f"[{rid}]({url})", esc)}]
        notes = []
        if reply.cited:
            notes.append("来源：" + " · ".join(f"[{c}]({reply.links[c]})" if reply.links.get(c) else c
                                             for c in reply.cited))
        if reply.related:
            notes.append("最接近的记录：" + " · ".join((f"[{i}]({reply.links[i]})" if reply.links.get(i) else i)
                                                 + f" {esc(t)}" for i, t in reply.related))
        if notes:
            elements.append({"tag": "note", "elements": [{"tag": "lark_md", "content": n} for n in notes]})
        if reply.answer_id:
            elements.append({"tag": "action", "actions": [
                {"tag": "button", "type": "primary", "text": {"tag": "plain_text", "content": "👍 有帮助"},
                 "value": {"casepilot": "helpful", "answer_id": reply.answer_id}},
                {"tag": "button", "type": "default", "text": {"tag": "plain_text", "content": "👎 没帮助"},
                 "value": {"casepilot": "not_helpful", "answer_id": reply.answer_id}}]})
        title = "casepilot" + (f" · {reply.ticket}" if reply.ticket else "")
        return {"config": {"wide_screen_mode": True},
                "header": {"template": "grey" if reply.abstained or reply.notice else "blue",
                           "title": {"tag": "plain_text", "content": title}},
                "elements": elements}

    def _token(self, out: Outbound, channel: Channel, base: str) -> str:
        def fetch() -> tuple[str, float]:
            r = out.request("POST", base + "/open-apis/auth/v3/tenant_access_token/internal",
                            what=f"feishu {channel.id} token",
                            json={"app_id": channel.options.get("app_id", ""),
                                  "app_secret": channel.secrets.get("app_secret", "")})
            doc = json_reply(r, f"feishu {channel.id}")
            token = doc.get("tenant_access_token")
            if doc.get("code") != 0 or not isinstance(token, str):
                raise OutboundError(f"feishu {channel.id}: no tenant_access_token (code {doc.get('code')})")
            return token, float(doc.get("expire") or 7200)

        return out.tokens.get(f"feishu:{channel.id}:{channel.fingerprint}", fetch)

    def send(self, out: Outbound, channel: Channel, target: dict[str, Any], payload: dict[str, Any]) -> None:
        base = channel.api_base(self.default_api_base)
        url = f"{base}/open-apis/im/v1/messages/{target['message_id']}/reply"
        body = {"msg_type": "interactive", "content": json.dumps(payload, ensure_ascii=False)}
        for attempt in (1, 2):
            token = self._token(out, channel, base)
            r = out.request("POST", url, what=f"feishu {channel.id}", json=body, allow_4xx=True,
                            headers={"Authorization": f"Bearer {token}"})
            doc = json_reply(r, f"feishu {channel.id}")
            if doc.get("code") == 0:
                return
            if doc.get("code") in TOKEN_ERRORS and attempt == 1:
                out.tokens.drop(f"feishu:{channel.id}:{channel.fingerprint}")
                continue
            raise OutboundError(f"feishu {channel.id}: reply failed (code {doc.get('code')}: {doc.get('msg')})")


# the platform as the registry (api/bots/__init__.py) sees it: the webhook routes and bots add come from it
SPEC = PlatformSpec(
    name="feishu", title="Feishu/Lark", make=Feishu,
    endpoints=(Endpoint("POST", "events", "/bots/feishu/{id}/events", "Feishu / Lark event subscription webhook"),),
    settings=(Setting("secret", "verification_token", "Verification Token"),
              Setting("encrypt_key", "encrypt_key", "Encrypt Key (optional, recommended)"),
              Setting("app_id", "app_id", "App ID", secret=False),
              Setting("app_secret", "app_secret", "App Secret")),
    api_base_note="Lark: https://open.larksuite.com",
)

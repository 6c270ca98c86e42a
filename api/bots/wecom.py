"""WeCom (企业微信) application callback.

* Authentication: ``msg_signature`` = hex SHA1 of the sorted, concatenated token, ``timestamp``,
  ``nonce`` and the encrypted text (``echostr`` for the URL check, the XML's ``Encrypt`` for a
  message), the timestamp within 5 minutes. Only the ``Encrypt`` element is read from the XML before
  the signature is checked (and XML with a DOCTYPE or entities is refused outright).
* Encryption: AES-256-CBC, key = base64(EncodingAESKey + "="), IV = the key's first 16 bytes,
  PKCS#7 padding to 32 bytes; the plaintext is 16 random bytes, a 4-byte big-endian length, the
  message, and the receive id (the CorpID), which must be this channel's.
* ``GET`` is the URL check: the decrypted ``echostr`` is the answer. A ``text`` message is a
  question, answered as a markdown message through ``POST /cgi-bin/message/send`` with a cached
  ``access_token`` (``/cgi-bin/gettoken``). WeCom markdown has no buttons: no feedback there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import xml.etree.ElementTree as ET
from typing import Any

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
    cut_bytes,
    malformed,
    same,
)
from .outbound import Outbound, OutboundError, json_reply

WINDOW = 300.0
MARKDOWN_BYTES = 2048  # WeCom's limit for markdown content
TOKEN_ERRORS = {40014, 41001, 42001}  # invalid, missing or expired access_token


def aes_key(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(encoding_aes_key) != 43 or len(key) != 32:
        raise InputError("the EncodingAESKey is 43 characters of base64 (32 bytes)")
    return key


def msg_signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def decrypt(encoding_aes_key: str, encrypted: str, receive_id: str) -> bytes:
    key = aes_key(encoding_aes_key)
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise malformed("the encrypted text is not base64") from None
    if not raw or len(raw) % 16:
        raise malformed("the encrypted text is not AES-CBC ciphertext")
    # lazy: the CLI loads this module for its SPEC, and cryptography costs every command 25 ms
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    d = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = d.update(raw) + d.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
        raise malformed("the encrypted text does not decrypt with this channel's EncodingAESKey")
    content = plain[16:-pad]
    if len(content) < 4:
        raise malformed("the decrypted text is too short")
    (n,) = struct.unpack(">I", content[:4])
    msg, rid = content[4:4 + n], content[4 + n:]
    if len(msg) != n or not same(rid.decode("utf-8", "replace"), receive_id):
        raise malformed("the message is not for this channel's CorpID")
    return msg


_DECL = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)", re.I)


def parse_xml(body: bytes, what: str) -> ET.Element:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed(f"{what} is not UTF-8") from None
    if _DECL.search(text):  # WeCom's envelopes have none (CDATA sections are fine)
        raise malformed(f"{what}: DOCTYPE, entities and other declarations are not accepted")
    try:
        return ET.fromstring(text)  # a str: parsed as text, never re-detected as another encoding
    except ET.ParseError:
        raise malformed(f"{what} is not XML") from None


def _text(root: ET.Element, tag: str) -> str:
    el = root.find(tag)
    return (el.text or "").strip() if el is not None else ""


class WeCom:
    name = "wecom"
    default_api_base = "https://qyapi.weixin.qq.com"

    def check_config(self, secrets: dict[str, str], options: dict[str, Any]) -> None:
        if not secrets.get("token"):
            raise InputError("wecom needs --secret (the callback's Token)")
        aes_key(secrets.get("encoding_aes_key", ""))
        if not options.get("corp_id"):
            raise InputError("wecom needs --app-id (the CorpID: the receive id of the encrypted messages)")
        if not secrets.get("corp_secret") or not str(options.get("agent_id") or "").isdigit():
            raise InputError("wecom needs --app-secret (the application's Secret) and --agent-id (its AgentId)")

    def verify(self, channel: Channel, req: RawRequest, now: float) -> Incoming:
        q = req.query
        sig, ts, nonce = q.get("msg_signature", ""), q.get("timestamp", ""), q.get("nonce", "")
        if not sig or not ts.isdigit() or not nonce:
            raise bad_signature("msg_signature, timestamp and nonce are required")
        token = channel.secrets["token"]
        if req.method == "GET":
            echostr = q.get("echostr", "")
            if not echostr or not same(msg_signature(token, ts, nonce, echostr), sig):
                raise bad_signature()
            check_window(float(ts), now, WINDOW)
            return Incoming(ack=Ack(self._decrypt(channel, echostr)))
        encrypted = _text(parse_xml(req.body, "the body"), "Encrypt")
        if not encrypted or not same(msg_signature(token, ts, nonce, encrypted), sig):
            raise bad_signature()
        check_window(float(ts), now, WINDOW)
        msg = parse_xml(self._decrypt(channel, encrypted), "the decrypted message")
        msg_id, kind = _text(msg, "MsgId"), _text(msg, "MsgType")
        created = _text(msg, "CreateTime")
        if kind != "text":
            return Incoming()  # events (enter_agent, ...) and media: nothing to answer
        user = _text(msg, "FromUserName")
        if not msg_id or not user:
            raise malformed("a text message needs MsgId and FromUserName")
        inc = Incoming(event_id=msg_id, created=float(created) if created.isdigit() else None)
        question = _text(msg, "Content")
        if question:
            inc.message = Message(question, user, {"touser": user}, user)
        return inc

    def _decrypt(self, channel: Channel, encrypted: str) -> bytes:
        try:
            return decrypt(channel.secrets["encoding_aes_key"], encrypted, str(channel.options.get("corp_id", "")))
        except InputError as e:
            raise Refused(500, "config_error", f"channel {channel.id}: {e}") from None

    def render(self, channel: Channel, reply: Reply) -> dict[str, Any]:
        tail = []
        if reply.cited:
            tail.append("> 来源：" + " · ".join(f"[{c}]({reply.links[c]})" if reply.links.get(c) else c
                                              for c in reply.cited))
        if reply.related:
            tail.append("> 最接近的记录：" + " · ".join((f"[{i}]({reply.links[i]})" if reply.links.get(i) else i)
                                                   + f" {t}" for i, t in reply.related))
        tail_text = ("\n\n" + "\n".join(tail)) if tail else ""
        body = reply.linked(lambda rid, url: f"[{rid}]({url})")
        content = cut_bytes(body, MARKDOWN_BYTES - len(tail_text.encode())) + tail_text
        return {"msgtype": "markdown", "markdown": {"content": cut_bytes(content, MARKDOWN_BYTES)}}

    def _token(self, out: Outbound, channel: Channel, base: str) -> str:
        def fetch() -> tuple[str, float]:
            r = out.request("GET", base + "/cgi-bin/gettoken", what=f"wecom {channel.id} token",
                            params={"corpid": str(channel.options.get("corp_id", "")),
                                    "corpsecret": channel.secrets.get("corp_secret", "")})
            doc = json_reply(r, f"wecom {channel.id}")
            token = doc.get("access_token")
            if doc.get("errcode") != 0 or not isinstance(token, str):
                raise OutboundError(f"wecom {channel.id}: no access_token (errcode {doc.get('errcode')})")
            return token, float(doc.get("expires_in") or 7200)

        return out.tokens.get(f"wecom:{channel.id}:{channel.fingerprint}", fetch)

    def send(self, out: Outbound, channel: Channel, target: dict[str, Any], payload: dict[str, Any]) -> None:
        base = channel.api_base(self.default_api_base)
        body = {**target, **payload, "agentid": int(channel.options.get("agent_id") or 0)}
        for attempt in (1, 2):
            token = self._token(out, channel, base)
            r = out.request("POST", base + "/cgi-bin/message/send", what=f"wecom {channel.id}", json=body,
                            params={"access_token": token})
            doc = json_reply(r, f"wecom {channel.id}")
            if doc.get("errcode") == 0:
                return
            if doc.get("errcode") in TOKEN_ERRORS and attempt == 1:
                out.tokens.drop(f"wecom:{channel.id}:{channel.fingerprint}")
                continue
            raise OutboundError(f"wecom {channel.id}: message/send failed (errcode {doc.get('errcode')})")


# the platform as the registry (api/bots/__init__.py) sees it: the webhook routes and bots add come from it
_QUERY = ("msg_signature", "timestamp", "nonce")
SPEC = PlatformSpec(
    name="wecom", title="WeCom", make=WeCom,
    endpoints=(Endpoint("GET", "callback", "/bots/wecom/{id}/callback", "WeCom callback URL check",
                        (*_QUERY, "echostr")),
               Endpoint("POST", "callback", "/bots/wecom/{id}/callback", "WeCom callback (encrypted messages)",
                        _QUERY)),
    settings=(Setting("secret", "token", "the callback Token"),
              Setting("encrypt_key", "encoding_aes_key", "EncodingAESKey"),
              Setting("app_id", "corp_id", "CorpID", secret=False),
              Setting("app_secret", "corp_secret", "the application's Secret"),
              Setting("agent_id", "agent_id", "the application's AgentId", secret=False)),
)

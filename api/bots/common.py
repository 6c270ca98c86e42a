"""What the four platforms share: the bots' settings, a channel's config, the shapes a verified
request becomes, the replay window, the conversation mapping and the platform-neutral reply.

A platform module (``slack``, ``feishu``, ``wecom``, ``dingtalk``) declares a ``PlatformSpec`` (its
name, webhook endpoints and ``casepilot bots add`` settings) and implements ``Platform``: it
*verifies* a raw request with the platform's own algorithm before it parses anything, turns it into
an ``Incoming`` (a message to answer, a feedback click, a handshake or nothing), *renders* a
``Reply`` in the platform's format and *sends* it through ``outbound.Outbound``. De-duplication,
event age, answering and feedback live once, in ``runtime.BotRuntime``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .outbound import Outbound

KIB = 1024


class BotSettings(BaseSettings):
    """``CASEPILOT_BOTS_*``: the bots' settings, shared by every channel."""

    model_config = SettingsConfigDict(env_prefix="CASEPILOT_BOTS_", extra="ignore")

    public_url: str = Field(default="", description="the casepilot server's public base URL (case links, webhook URLs)")
    case_url: str = Field(default="{base}/console/#/case/{id}",
                          description="the link of a cited case; {base} is public_url, {id} the case id")
    max_body_bytes: int = Field(default=256 * KIB, ge=1024, description="webhook bodies larger than this get 413")
    dedupe_ttl_seconds: float = Field(default=24 * 3600.0, ge=3600,
                                      description="how long a platform event id is remembered; events older than "
                                                  "this are refused, so a replay is either remembered or refused")
    timeout_seconds: float = Field(default=10.0, gt=0, description="one outgoing call to a platform API")
    retries: int = Field(default=3, ge=0, le=10, description="extra attempts of an outgoing call after a 5xx, "
                                                              "429 or a network error")
    backoff_seconds: float = Field(default=0.5, ge=0, description="the first wait between attempts; doubles each time")
    workers: int = Field(default=2, ge=1, le=64, description="answers composed and sent at once per process")
    history_turns: int = Field(default=10, ge=0, description="earlier turns of a thread a question is read against")
    ticket_pattern: str = Field(default=r"T-[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*",
                                description="what a ticket id looks like in a message (checked against the library)")


class Refused(Exception):
    """A request the bot will not take: answered with problem details, nothing processed."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def bad_signature(detail: str = "the request's signature does not verify") -> Refused:
    return Refused(401, "bad_signature", detail)


def malformed(detail: str) -> Refused:
    return Refused(400, "malformed_body", detail)


def check_window(timestamp: float, now: float, window: float) -> None:
    """Refuse a request signed more than ``window`` seconds before (or after) ``now``."""
    if abs(now - timestamp) > window:
        raise Refused(401, "stale_request", f"the request's timestamp is {abs(now - timestamp):.0f} s away from "
                                            f"the server's clock; the window is {window:.0f} s")


def same(a: str, b: str) -> bool:
    """Constant-time string equality."""
    return hmac.compare_digest(a.encode(), b.encode())


def json_object(body: bytes, what: str = "the body") -> dict[str, Any]:
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise malformed(f"{what} is not JSON") from None
    if not isinstance(doc, dict):
        raise malformed(f"{what} is not a JSON object")
    return doc


def text_field(obj: Any, *path: str) -> str:
    """``obj[path[0]][path[1]]...`` when it is a string, else ''."""
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, str) else ""


@dataclass
class Channel:
    """A configured bot channel: one platform, one tenant, its secrets (never logged) and options."""

    id: str
    tenant: str
    platform: str
    name: str
    secrets: dict[str, str]
    options: dict[str, Any]
    fingerprint: str = ""

    def __repr__(self) -> str:  # never shows the secrets
        return f"Channel({self.platform}:{self.id}, tenant={self.tenant!r})"

    def api_base(self, default: str) -> str:
        return str(self.options.get("api_base") or default).rstrip("/")


def fingerprint(secrets: dict[str, str]) -> str:
    """Identifies a channel's secrets (to tell configurations apart) without revealing them."""
    return "sha256:" + hashlib.sha256(json.dumps(secrets, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RawRequest:
    kind: str  # which endpoint: events | interactions | callback
    method: str
    headers: dict[str, str]  # lower-case names
    query: dict[str, str]
    body: bytes


@dataclass
class Ack:
    """The immediate HTTP response to the platform (within its deadline; the answer follows later)."""

    body: bytes = b""
    media_type: str = "text/plain"
    status: int = 200

    @classmethod
    def json(cls, obj: Any) -> Ack:
        return cls(json.dumps(obj, ensure_ascii=False).encode(), "application/json")


@dataclass
class Message:
    """A question to answer: its text, the platform's thread (the conversation within the channel),
    where the reply goes and who asked."""

    text: str
    thread: str
    target: dict[str, Any]
    user: str = ""


@dataclass
class Feedback:
    answer_id: str
    helpful: bool
    # the rated message, for a platform that shows the rating on it once recorded (``confirm_feedback``)
    message: dict[str, Any] | None = None
    user: str = ""  # the platform's id of who clicked: the rater, whose say in ranking is capped


@dataclass
class Incoming:
    """What a verified request became."""

    ack: Ack = field(default_factory=Ack)
    event_id: str = ""  # the platform's id, shared by its retries ('' for handshakes)
    created: float | None = None  # when the platform says the event happened (unix seconds)
    message: Message | None = None
    feedback: Feedback | None = None
    # the ack for a feedback click the store refused (an unknown answer id)
    feedback_failed: Ack | None = None
    # a signature that does not cover the body (DingTalk signs only the timestamp): bound to the first
    # event it came with, so that it cannot carry another body within its window
    signature: str = ""


@dataclass
class Reply:
    """An answer, platform-neutral: the text with ``[ID]`` citation markers, the cited ids in order,
    a link for each id, and the answer id the feedback buttons carry."""

    text: str
    cited: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    related: list[tuple[str, str]] = field(default_factory=list)  # (id, title) of the closest records
    abstained: bool = False
    answer_id: str = ""
    ticket: str | None = None
    notice: bool = False  # a short message of the bot's own (an error, a hint), not an answer

    def linked(self, link: Any, escape: Any = lambda s: s) -> str:
        """The text with each ``[ID]`` marker of a cited or related id turned into ``link(id, url)``
        (ids without a URL stay as they are); the rest of the text passes through ``escape``."""
        out: list[str] = []
        pos = 0
        for m in CITE_RE.finditer(self.text):
            rid = m.group(1)
            if rid not in self.links:
                continue
            out.append(escape(self.text[pos:m.start()]))
            out.append(link(rid, self.links[rid]))
            pos = m.end()
        out.append(escape(self.text[pos:]))
        return "".join(out)


CITE_RE = re.compile(r"\[([^\[\]\s]{1,200})\]")


def case_url(settings: BotSettings, record_id: str) -> str:
    """The public link of a case or article; '' when no public URL is configured."""
    if not settings.public_url:
        return ""
    return settings.case_url.format(base=settings.public_url.rstrip("/"), id=quote(record_id, safe=""))


def conversation_id(channel: Channel, thread: str) -> str:
    """The key a chat thread's turns are stored under (the store's ``turns.ticket_id``): one
    conversation per channel and thread."""
    key = f"bot:{channel.id}:{thread}"
    return key if len(key) <= 200 else f"bot:{channel.id}:" + hashlib.sha256(thread.encode()).hexdigest()


def cut_bytes(text: str, limit: int, tail: str = "…") -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (with ``tail`` when cut)."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: max(limit - len(tail.encode()), 0)].decode("utf-8", "ignore") + tail


class Platform(Protocol):
    """One chat platform: verify + parse an incoming request, render a reply, send it."""

    name: str
    default_api_base: str

    def check_config(self, secrets: dict[str, str], options: dict[str, Any]) -> None:
        """Raise ``InputError`` when a channel's secrets or options cannot work."""

    def verify(self, channel: Channel, req: RawRequest, now: float) -> Incoming:
        """Authenticate ``req`` with the platform's algorithm (raise ``Refused``), then parse it."""

    def render(self, channel: Channel, reply: Reply) -> dict[str, Any]:
        """The reply in the platform's message format."""

    def send(self, out: Outbound, channel: Channel, target: dict[str, Any], payload: dict[str, Any]) -> None:
        """Post ``payload`` to the platform API (raise ``outbound.OutboundError`` when it fails)."""

    # optional: ``confirm_feedback(out, channel, feedback)`` shows on the rated message that its rating
    # was recorded (buttons replaced), for a platform whose bots may edit their messages (Slack)


@dataclass(frozen=True)
class Setting:
    """A ``casepilot bots add`` option a platform takes (``option`` is the flag without ``--``, with
    underscores), the name its value is stored under, and what it is on this platform (the option's
    help lists each platform's). A secret is stored with the channel's secrets (never listed, and the
    option takes env:NAME); the rest go with its options."""

    option: str
    key: str
    help: str
    secret: bool = True


@dataclass(frozen=True)
class Endpoint:
    """One webhook route: ``path`` under the server (``{id}`` is the channel id), ``kind`` the
    ``RawRequest.kind`` the platform sees, and the query parameters it reads (each at most 1000
    characters, checked before anything else)."""

    method: str
    kind: str
    path: str
    summary: str
    query: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlatformSpec:
    """What a platform module declares: its name and title, the class that implements ``Platform``, its
    webhook endpoints and its settings. The webhook routes and ``casepilot bots add`` are made from it."""

    name: str
    title: str
    make: Callable[[], Platform]
    endpoints: tuple[Endpoint, ...]
    settings: tuple[Setting, ...]
    api_base_note: str = ""  # another base URL worth naming in --api-base's help

    @property
    def default_api_base(self) -> str:
        return str(getattr(self.make, "default_api_base", ""))

    def paths(self) -> dict[str, str]:
        """The webhook path of each endpoint kind, ``{id}`` for the channel id."""
        return {e.kind: e.path for e in self.endpoints}

"""Chat-channel bots: Slack (Events API), Feishu/Lark (event subscriptions), WeCom (企业微信
application callback) and DingTalk (outgoing robot).

An admin binds a channel to one tenant (``casepilot bots add``); the platform then calls the
channel's webhook (``api/routes/bots.py``), which verifies the platform's signature before reading
anything, acknowledges at once and answers in the background from that tenant's library only.

    common.py     settings, the channel, the shapes a request becomes, windows, conversation keys
    outbound.py   the one HTTP client to the platform APIs (base URL per channel, timeouts, retries)
    runtime.py    de-duplication, answering in the background, feedback clicks
    slack.py, feishu.py, wecom.py, dingtalk.py   one per platform (its SPEC; verify, render, send)
"""

from __future__ import annotations

import secrets as _secrets
from dataclasses import asdict
from typing import Any

from assistant.errors import InputError

from ..store import BotStore
from . import dingtalk, feishu, slack, wecom
from .common import Channel, Platform, PlatformSpec, fingerprint

# The platforms, by name: each module declares its SPEC (name, webhook endpoints, settings), from
# which the webhook routes (api/routes/bots.py) and ``casepilot bots add`` are made. A new platform
# is a module like these and a line here.
SPECS: dict[str, PlatformSpec] = {spec.name: spec for spec in (slack.SPEC, feishu.SPEC, wecom.SPEC, dingtalk.SPEC)}
PLATFORMS = tuple(SPECS)
_loaded: dict[str, Platform] = {}


def platform(name: str) -> Platform:
    if name not in SPECS:
        raise InputError(f"platform must be one of {', '.join(PLATFORMS)}, not {name!r}")
    if name not in _loaded:
        _loaded[name] = SPECS[name].make()
    return _loaded[name]


def endpoints(platform_name: str, channel_id: str) -> dict[str, str]:
    return {k: v.format(id=channel_id) for k, v in SPECS[platform_name].paths().items()}


def add_channel(store: BotStore, platform_name: str, tenant: str, name: str, values: dict[str, str],
                api_base: str = "") -> dict[str, Any]:
    """Configure a channel of ``tenant``; ``values`` are the ``bots add`` options by name. The
    returned row carries the webhook paths and a fingerprint, never the secrets."""
    plat = platform(platform_name)
    known = {s.option: s for s in SPECS[platform_name].settings}
    unknown = sorted(k for k, v in values.items() if v and k not in known)
    if unknown:
        raise InputError(f"{platform_name} takes no --{', --'.join(u.replace('_', '-') for u in unknown)}")
    secrets_: dict[str, str] = {}
    options: dict[str, Any] = {}
    for opt, setting in known.items():
        value = (values.get(opt) or "").strip()
        if value:
            (secrets_ if setting.secret else options)[setting.key] = value
    if api_base:
        if not api_base.startswith(("https://", "http://")):
            raise InputError("--api-base is an http(s) URL")
        options["api_base"] = api_base.rstrip("/")
    webhook = secrets_.get("webhook", "")
    if webhook and not webhook.startswith(("https://", "http://")):
        raise InputError("--webhook is an http(s) URL")
    name = (name or "").strip()
    if len(name) > 200:
        raise InputError("a channel's name is at most 200 characters")
    plat.check_config(secrets_, options)
    channel_id = _secrets.token_hex(8)
    row = store.add_bot_channel(channel_id, tenant, platform_name, name, secrets_, options, fingerprint(secrets_))
    return {**asdict(row), "endpoints": endpoints(platform_name, channel_id)}


def load_channel(store: BotStore, channel_id: str) -> Channel | None:
    row = store.bot_channel(channel_id)
    if row is None:
        return None
    return Channel(row.id, row.tenant, row.platform, row.name, row.secrets, row.options, row.fingerprint)

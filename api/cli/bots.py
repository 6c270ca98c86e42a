"""``casepilot bots add|list|remove``: chat-channel bots, each bound to one tenant.

    casepilot bots add --platform slack|feishu|wecom|dingtalk --tenant T --name N --secret S [...] [--json]
    casepilot bots list [--tenant T] [--json]          # fingerprints, never the secrets
    casepilot bots remove ID [--tenant T]

A secret option's value may be ``env:NAME`` to read it from the environment variable NAME (so it
stays out of the shell history and the process list).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from assistant.errors import InputError, NotFound

from .common import emit, open_library

SECRET_OPTIONS = ("secret", "bot_token", "encrypt_key", "app_secret", "webhook")


def _value(raw: str | None) -> str:
    if raw and raw.startswith("env:"):
        name = raw[4:]
        if not os.environ.get(name):
            raise InputError(f"the environment variable {name} is not set")
        return os.environ[name]
    return raw or ""


def _urls(endpoints: dict[str, str]) -> dict[str, str]:
    from api.bots.common import BotSettings  # lazy, as in cmd_bots

    base = BotSettings().public_url.rstrip("/")
    return {k: base + v for k, v in endpoints.items()} if base else endpoints


def cmd_bots(args: argparse.Namespace) -> int:
    from api.bots import add_channel, endpoints  # the bots' package: 20 ms that other commands need not pay

    lib = open_library(args, create=args.bots_command == "add")
    store, tenant = lib.store, lib.tenant
    if args.bots_command == "add":
        values = {k: _value(getattr(args, k)) if k in SECRET_OPTIONS else (getattr(args, k) or "")
                  for k in ("secret", "bot_token", "encrypt_key", "app_id", "app_secret", "agent_id", "webhook")}
        row = add_channel(store, args.platform, tenant, args.name or "", values, args.api_base or "")
        out = {k: row[k] for k in ("id", "platform", "tenant", "name", "fingerprint", "endpoints")}
        out["urls"] = _urls(row["endpoints"])
        if args.json:
            emit(out)
        else:
            print(f"bot channel {out['id']} ({out['platform']}, tenant {out['tenant']!r}, "
                  f"secrets {out['fingerprint']})")
            for kind, url in out["urls"].items():
                print(f"  {kind:<13} {url}")
            if out["urls"] == out["endpoints"]:
                print("paths are relative to the server's public URL (set CASEPILOT_BOTS_PUBLIC_URL to print "
                      "full URLs and to link cited cases)", file=sys.stderr)
        if not store.has_searchable(tenant):  # a typo in --tenant gives a bot that never knows anything
            print(f"warning: tenant {tenant!r} holds no cases or articles yet, so this bot will answer that it "
                  f"found nothing; import some with casepilot ingest FILE --tenant {tenant}", file=sys.stderr)
    elif args.bots_command == "list":
        rows = [{**r, "endpoints": endpoints(r["platform"], r["id"]),
                 "options": {k: v for k, v in r["options"].items()}} for r in store.bot_channels(tenant)]
        if args.json:
            emit({"channels": rows})
        elif not rows:
            print(f"no bot channels in tenant {tenant!r}")
        for r in [] if args.json else rows:
            paths = " ".join(r["endpoints"].values())
            print(f"{r['id']}  {r['platform']:<8}  {r['name'] or '-':<20}  {r['fingerprint']}  created "
                  f"{r['created_at']}  {paths}")
    else:
        if not store.remove_bot_channel(args.id, tenant):
            raise NotFound(f"no bot channel {args.id!r} in tenant {tenant!r}")
        if args.json:
            emit({"removed": args.id})
        else:
            print(f"bot channel {args.id} removed")
    return 0


def register_bots(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``bots`` to the ``casepilot`` sub-command parser."""
    b = sub.add_parser("bots", help="chat-channel bots (Slack, Feishu/Lark, WeCom, DingTalk): add, list, remove",
                       description="Bind a chat channel to --tenant: the platform calls the printed webhook, the "
                                   "bot answers from that tenant's library only. Secrets are stored in the "
                                   "database, never logged or listed (a fingerprint identifies them). Any secret "
                                   "option takes env:NAME to read it from the environment. docs/bots.md says how to "
                                   "set up each platform's console.")
    actions = b.add_subparsers(dest="bots_command", required=True, metavar="ACTION")
    a = actions.add_parser("add", parents=[common], help="configure a channel; prints its webhook URL(s)")
    a.add_argument("--platform", required=True, choices=["slack", "feishu", "wecom", "dingtalk"])
    a.add_argument("--name", help="which channel or app this is")
    a.add_argument("--secret", required=True, help="slack: Signing Secret; feishu: Verification Token; "
                                                   "wecom: the callback Token; dingtalk: the robot's AppSecret")
    a.add_argument("--bot-token", help="slack: Bot User OAuth Token (xoxb-...)")
    a.add_argument("--encrypt-key", help="feishu: Encrypt Key (optional, recommended); wecom: EncodingAESKey")
    a.add_argument("--app-id", help="feishu: App ID; wecom: CorpID")
    a.add_argument("--app-secret", help="feishu: App Secret; wecom: the application's Secret")
    a.add_argument("--agent-id", help="wecom: the application's AgentId")
    a.add_argument("--webhook", help="dingtalk: a robot webhook URL for replies when a message's sessionWebhook "
                                     "cannot be used (optional)")
    a.add_argument("--api-base", metavar="URL", help="the platform API's base URL (defaults: https://slack.com/api, "
                                                      "https://open.feishu.cn, https://qyapi.weixin.qq.com, "
                                                      "https://oapi.dingtalk.com; Lark: https://open.larksuite.com)")
    a.set_defaults(func=cmd_bots)
    ls = actions.add_parser("list", parents=[common], help="the tenant's channels (fingerprints, never secrets)")
    ls.set_defaults(func=cmd_bots)
    r = actions.add_parser("remove", parents=[common], help="remove a channel by its id")
    r.add_argument("id", metavar="ID")
    r.set_defaults(func=cmd_bots)

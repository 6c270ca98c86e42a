"""``casepilot bots add|list|remove``: chat-channel bots, each bound to one tenant.

    casepilot bots add --platform slack|feishu|wecom|dingtalk --tenant T --name N --secret S [...] [--json]

The platforms, their options and the help of each come from the platform modules' declarations
(``api.bots.SPECS``).
    casepilot bots list [--tenant T] [--json]          # fingerprints, never the secrets
    casepilot bots remove ID [--tenant T]

A secret option's value may be ``env:NAME`` to read it from the environment variable NAME (so it
stays out of the shell history and the process list).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict
from typing import Any

from api.bots import SPECS, add_channel, endpoints
from api.bots.common import BotSettings, Setting
from api.store import HttpStore
from assistant.errors import InputError, NotFound

from .common import emit, open_library


def _options() -> dict[str, list[tuple[str, Setting]]]:
    """Each ``bots add`` option the platforms declare (in the order they first name it), with the
    platforms that take it and what it is on each."""
    found: dict[str, list[tuple[str, Setting]]] = {}
    for spec in SPECS.values():
        for setting in spec.settings:
            found.setdefault(setting.option, []).append((spec.name, setting))
    return found


def _value(raw: str | None) -> str:
    if raw and raw.startswith("env:"):
        name = raw[4:]
        if not os.environ.get(name):
            raise InputError(f"the environment variable {name} is not set")
        return os.environ[name]
    return raw or ""


def _urls(endpoints: dict[str, str]) -> dict[str, str]:
    base = BotSettings().public_url.rstrip("/")
    return {k: base + v for k, v in endpoints.items()} if base else endpoints


def cmd_bots(args: argparse.Namespace) -> int:
    lib = open_library(args, create=args.bots_command == "add")
    store, tenant = HttpStore(lib.store), lib.tenant
    if args.bots_command == "add":
        values = {k: _value(getattr(args, k)) if any(s.secret for _, s in takers) else (getattr(args, k) or "")
                  for k, takers in _options().items()}
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
        if not lib.store.has_searchable(tenant):  # a typo in --tenant gives a bot that never knows anything
            print(f"warning: tenant {tenant!r} holds no cases or articles yet, so this bot will answer that it "
                  f"found nothing; import some with casepilot ingest FILE --tenant {tenant}", file=sys.stderr)
    elif args.bots_command == "list":
        rows = [{**asdict(r), "endpoints": endpoints(r.platform, r.id)} for r in store.bot_channels(tenant)]
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
    titles = ", ".join(spec.title for spec in SPECS.values())
    b = sub.add_parser("bots", help=f"chat-channel bots ({titles}): add, list, remove",
                       description="Bind a chat channel to --tenant: the platform calls the printed webhook, the "
                                   "bot answers from that tenant's library only. Secrets are stored in the "
                                   "database, never logged or listed (a fingerprint identifies them). Any secret "
                                   "option takes env:NAME to read it from the environment. docs/bots.md says how to "
                                   "set up each platform's console.")
    actions = b.add_subparsers(dest="bots_command", required=True, metavar="ACTION")
    a = actions.add_parser("add", parents=[common], help="configure a channel; prints its webhook URL(s)")
    a.add_argument("--platform", required=True, choices=list(SPECS))
    a.add_argument("--name", help="which channel or app this is")
    for option, takers in _options().items():  # what each platform module declares (api/bots/*.py)
        a.add_argument("--" + option.replace("_", "-"), required=len(takers) == len(SPECS),
                       help="; ".join(f"{name}: {setting.help}" for name, setting in takers))
    bases = ", ".join(spec.default_api_base for spec in SPECS.values())
    notes = "".join(f"; {spec.api_base_note}" for spec in SPECS.values() if spec.api_base_note)
    a.add_argument("--api-base", metavar="URL", help=f"the platform API's base URL (defaults: {bases}{notes})")
    a.set_defaults(func=cmd_bots)
    ls = actions.add_parser("list", parents=[common], help="the tenant's channels (fingerprints, never secrets)")
    ls.set_defaults(func=cmd_bots)
    r = actions.add_parser("remove", parents=[common], help="remove a channel by its id")
    r.add_argument("id", metavar="ID")
    r.set_defaults(func=cmd_bots)

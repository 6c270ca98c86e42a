"""The chat-channel bots' webhooks (``casepilot bots add`` prints a channel's):

    POST /bots/slack/{channel_id}/events          Slack Events API (and its url_verification)
    POST /bots/slack/{channel_id}/interactions    Slack interactivity (the feedback buttons)
    POST /bots/feishu/{channel_id}/events         Feishu / Lark event subscription (messages, card clicks)
    GET  /bots/wecom/{channel_id}/callback        WeCom URL check (echostr)
    POST /bots/wecom/{channel_id}/callback        WeCom encrypted messages
    POST /bots/dingtalk/{channel_id}/events       DingTalk outgoing robot

They take no API key: each verifies its platform's signature before reading the body, answers at
once (200) and replies later through the platform API. They are not in the OpenAPI document: they
are for the platforms, not for API clients. Refusals are problem details: 401 bad_signature or
stale_request, 400 malformed_body, 404 for an unknown channel, 413 over CASEPILOT_BOTS_MAX_BODY_BYTES.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..bots.common import BotSettings, RawRequest, Refused
from ..bots.runtime import BotRuntime
from ..problems import TITLES, Problem

router = APIRouter(prefix="/bots", tags=["bots"], include_in_schema=False)

TITLES.setdefault("bad_signature", "The platform signature does not verify")
TITLES.setdefault("stale_request", "The request is outside the replay window")
TITLES.setdefault("replayed_signature", "The signature was already used with another message")
_lock = threading.Lock()


def runtime(request: Request) -> BotRuntime:
    """The app's bot runtime (one per worker process), made on first use from CASEPILOT_BOTS_*."""
    app = request.app
    rt = getattr(app.state, "casepilot_bots", None)
    if rt is None:
        with _lock:
            rt = getattr(app.state, "casepilot_bots", None)
            if rt is None:
                rt = BotRuntime(BotSettings(), app.state.casepilot)
                app.state.casepilot_bots = rt
    assert isinstance(rt, BotRuntime)
    return rt


async def _handle(request: Request, platform: str, channel_id: str, kind: str) -> Response:
    body = await request.body()
    req = RawRequest(kind=kind, method=request.method, headers={k.lower(): v for k, v in request.headers.items()},
                     query=dict(request.query_params), body=body)
    rt = runtime(request)
    try:
        ack = await run_in_threadpool(rt.handle, platform, channel_id, req)
    except Refused as e:
        raise Problem(e.status, e.code, e.detail) from None
    return Response(ack.body, status_code=ack.status, media_type=ack.media_type)


@router.post("/slack/{channel_id}/events", summary="Slack Events API webhook")
async def slack_events(channel_id: str, request: Request) -> Response:
    return await _handle(request, "slack", channel_id, "events")


@router.post("/slack/{channel_id}/interactions", summary="Slack interactivity webhook (feedback buttons)")
async def slack_interactions(channel_id: str, request: Request) -> Response:
    return await _handle(request, "slack", channel_id, "interactions")


@router.post("/feishu/{channel_id}/events", summary="Feishu / Lark event subscription webhook")
async def feishu_events(channel_id: str, request: Request) -> Response:
    return await _handle(request, "feishu", channel_id, "events")


WeComQuery = Annotated[str, Query(max_length=1000)]


@router.get("/wecom/{channel_id}/callback", summary="WeCom callback URL check")
async def wecom_check(channel_id: str, request: Request, msg_signature: WeComQuery = "", timestamp: WeComQuery = "",
                      nonce: WeComQuery = "", echostr: WeComQuery = "") -> Response:
    return await _handle(request, "wecom", channel_id, "callback")


@router.post("/wecom/{channel_id}/callback", summary="WeCom callback (encrypted messages)")
async def wecom_callback(channel_id: str, request: Request, msg_signature: WeComQuery = "",
                         timestamp: WeComQuery = "", nonce: WeComQuery = "") -> Response:
    return await _handle(request, "wecom", channel_id, "callback")


@router.post("/dingtalk/{channel_id}/events", summary="DingTalk outgoing robot webhook")
async def dingtalk_events(channel_id: str, request: Request) -> Response:
    return await _handle(request, "dingtalk", channel_id, "events")

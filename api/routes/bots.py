"""The chat-channel bots' webhooks (``casepilot bots add`` prints a channel's), made from the endpoints
each platform module declares (``api.bots.SPECS``):

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
from collections.abc import Awaitable, Callable
from inspect import Parameter, Signature

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from ..bots import SPECS
from ..bots.common import BotSettings, Endpoint, RawRequest, Refused
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


def _endpoint(platform: str, e: Endpoint) -> Callable[..., Awaitable[Response]]:
    """The route function of one declared endpoint; its query parameters are declared to FastAPI, so that
    one over 1000 characters is refused before the platform module sees the request."""

    async def endpoint(channel_id: str, request: Request, **_: str) -> Response:
        return await _handle(request, platform, channel_id, e.kind)

    params = [Parameter("channel_id", Parameter.POSITIONAL_OR_KEYWORD, annotation=str),
              Parameter("request", Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
    params += [Parameter(q, Parameter.KEYWORD_ONLY, default=Query("", max_length=1000), annotation=str)
               for q in e.query]
    endpoint.__signature__ = Signature(params, return_annotation=Response)  # type: ignore[attr-defined]
    endpoint.__name__ = f"{platform}_{e.kind}_{e.method.lower()}"
    return endpoint


for _spec in SPECS.values():  # the routes each platform module declares
    for _e in _spec.endpoints:
        router.add_api_route(_e.path.removeprefix("/bots").replace("{id}", "{channel_id}"), _endpoint(_spec.name, _e),
                             methods=[_e.method], summary=_e.summary)

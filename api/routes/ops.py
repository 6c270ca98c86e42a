"""Health, readiness and Prometheus metrics (no key needed; they hold no tenant's data)."""

from __future__ import annotations

import os

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import State
from ..problems import problem_response
from ..schemas.ops import HealthOut, ProblemOut, ReadyOut

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers", response_model=HealthOut)
async def healthz() -> HealthOut:  # on the event loop: never in line for a thread behind long requests
    return HealthOut(status="ok")


@router.get("/readyz", summary="Readiness: the database answers and the home folder is writable",
            response_model=ReadyOut, responses={503: {"model": ProblemOut, "description": "not ready"}})
def readyz(st: State) -> ReadyOut | JSONResponse:
    checks = {}
    try:
        with st.store.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
        if not os.access(st.settings.home, os.W_OK):
            raise PermissionError(f"{st.settings.home} is not writable")
        checks["home"] = "ok"
    except Exception as e:
        return problem_response(503, "backend_unavailable", f"not ready: {type(e).__name__}")
    return ReadyOut(status="ready", checks=checks)


@router.get("/metrics", summary="Prometheus metrics: requests and latency per route, answers, model calls, "
            "retrieval latency", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(st: State) -> Response:
    return Response(generate_latest(st.metrics.registry), media_type=CONTENT_TYPE_LATEST)

"""What the web console (``/console/``) reads besides the other routes (the taxonomy: ``taxonomy.py``):
who the key is, how often a record was cited and rated, the most-cited and lowest-rated records; and the console's
own files, served from the package with a policy that lets the page load nothing from elsewhere."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from assistant.stats import rank_records
from assistant.types import SERVED_STATUSES

from ..auth import Agent, Reviewer
from ..deps import PathId, State
from ..problems import Problem
from ..schemas.console import CaseStatsOut, LibraryStatsOut, MeOut
from . import ERRORS

router = APIRouter(prefix="/v1", tags=["console"])
RecordId = PathId

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
# the page may load and call nothing but this server
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@router.get("/me", summary="The presented key: its id, tenant, role and name", response_model=MeOut,
            responses=ERRORS)
def me(p: Agent) -> MeOut:
    return MeOut(key_id=p.key_id, tenant=p.tenant, role=p.role, name=p.name)  # type: ignore[arg-type]


@router.get("/cases/{record_id}/stats", summary="How often answers cited a case or article, and how they were rated",
            response_model=CaseStatsOut, responses=ERRORS)
def case_stats(record_id: RecordId, p: Agent, st: State) -> CaseStatsOut:
    rec = st.store.get(p.tenant, record_id)
    if rec is None or rec.kind not in ("case", "article") or (
            not p.may("reviewer") and rec.status not in SERVED_STATUSES):
        raise Problem(404, "not_found", f"no case or article {record_id!r} in this tenant")
    return CaseStatsOut(id=rec.id, **asdict(st.store.citation_stats(p.tenant, rec.id)))


@router.get("/library/stats", summary="The most-cited and the lowest-rated records over the recent answers",
            response_model=LibraryStatsOut, responses=ERRORS)
def library_stats(p: Reviewer, st: State,
                  limit: Annotated[int, Query(ge=1, le=100, description="records in each list")] = 10,
                  window: Annotated[int, Query(ge=1, le=100_000, description="recent answers counted")] = 10_000,
                  ) -> LibraryStatsOut:
    ranking = rank_records(st.store, p.tenant, latest=window, limit=limit)
    return LibraryStatsOut.model_validate({"answers": ranking.answers,
                                           "most_cited": [asdict(r) for r in ranking.most_cited],
                                           "lowest_rated": [asdict(r) for r in ranking.lowest_rated]})


class ConsoleFiles(StaticFiles):
    """The console's files, each with the content security policy (no outside scripts, styles, fonts
    or connections) and revalidated on every load, so an upgrade is seen at once."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        resp = await super().get_response(path, scope)
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cache-Control"] = "no-cache"
        return resp


def mount(app: FastAPI) -> None:
    """``/console/`` serves the page; ``/`` sends a browser there."""
    app.mount("/console", ConsoleFiles(directory=CONSOLE_DIR, html=True), name="console")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=307)

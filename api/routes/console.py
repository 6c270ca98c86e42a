"""What the web console (``/console/``) reads besides the other routes (the taxonomy: ``taxonomy.py``):
who the key is, how often a record was cited and rated, the most-cited and lowest-rated records; and the console's
own files, served from the package with a policy that lets the page load nothing from elsewhere."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

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
    answers = st.store.answers(p.tenant, limit=window)
    rating: dict[str, bool] = {}
    for f in st.store.feedback(p.tenant, limit=window * 4):  # newest first: the first seen is the current one
        rating.setdefault(f.answer_id, f.helpful)
    counts: dict[str, list[int]] = {}  # id -> [cited, helpful, not helpful]
    for a in answers:
        for rid in {c.get("id") for c in a.citations if isinstance(c, dict) and c.get("id")}:
            row = counts.setdefault(str(rid), [0, 0, 0])
            row[0] += 1
            if a.id in rating:
                row[1 if rating[a.id] else 2] += 1

    def ranked(ids: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for rid in ids:
            rec = st.store.get(p.tenant, rid)
            if rec is not None and len(out) < limit:
                c = counts[rid]
                out.append({"id": rid, "title": rec.title, "kind": rec.kind, "cited": c[0], "helpful": c[1],
                            "not_helpful": c[2]})
        return out

    most = sorted(counts, key=lambda r: (-counts[r][0], r))
    rated = [r for r in counts if counts[r][1] + counts[r][2]]
    low = sorted(rated, key=lambda r: (-counts[r][2] / (counts[r][1] + counts[r][2]), -counts[r][2], r))
    return LibraryStatsOut.model_validate({"answers": len(answers), "most_cited": ranked(most),
                                           "lowest_rated": ranked(low)})


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

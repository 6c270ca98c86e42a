"""Search, reading a case or article, importing (in the background) and archiving."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

import anyio
import sqlalchemy as sa
from fastapi import APIRouter, Path, Query, Request, Response

from assistant.errors import BackendError
from assistant.review import Review
from ingestion.pipeline import Ingestor
from ingestion.report import describe_conflict

from ..auth import Admin, Agent
from ..deps import PathId, State, readable_record, to_filters
from ..jobs import ImportJobs
from ..problems import Problem, from_error
from ..schemas.records import CaseStateOut, ImportJobOut, RecordOut, SearchOut, SearchRequest
from . import ERRORS, _problem

router = APIRouter(prefix="/v1", tags=["library"])
RecordId = PathId


@router.post("/search", summary="Hybrid search over the tenant's approved cases and published articles",
             response_model=SearchOut, response_model_exclude_none=True, responses=ERRORS)
def search(body: SearchRequest, p: Agent, st: State) -> SearchOut:
    filters = to_filters(body.filters, p)
    tenant = st.tenants.get(p.tenant)
    with st.fair.hold(p.tenant, len(body.query)), tenant.read() as lib:
        hits = lib.search(body.query, body.k, filters)
    return SearchOut.model_validate({"results": [h.to_dict(body.explain) for h in hits]})


@router.get("/cases/{record_id}", summary="Read a case or an article (agents: approved and published ones only)",
            response_model=RecordOut, responses=ERRORS)
def read_record(record_id: RecordId, p: Agent, st: State) -> RecordOut:
    rec = readable_record(record_id, p, st)
    return RecordOut(id=rec.id, kind=rec.kind, status=rec.status, title=rec.title, product=rec.product,
                     version=rec.version, created_at=rec.created_at, updated_at=rec.updated_at, data=rec.data)


IMPORT_BODY = {"content": {"application/x-ndjson": {
    "schema": {"type": "string", "minLength": 1, "pattern": "\\S"},
    "example": '{"kind": "case", "id": "C-1", "title": "打印机连不上WiFi", "problem": "…", "solution": "1. …"}\n'
               '{"kind": "article", "id": "KB-1", "title": "无线配置指南", "body": "…"}\n'}},
    "required": True, "description": "JSON Lines: one case, article or ticket a line (DESIGN.md), UTF-8"}


@router.post("/imports", summary="Import JSON Lines (cases, articles, tickets) in the background",
             response_model=ImportJobOut, status_code=202, openapi_extra={"requestBody": IMPORT_BODY},
             responses={**ERRORS, 200: {"model": ImportJobOut, "description": "with wait=true: the import, done"},
                        409: _problem(
                 "with wait=true: records changed in review since their last import were kept, not "
                 "overwritten (named in conflicts; everything else was imported)")})
async def create_import(request: Request, response: Response, p: Admin, st: State,
                        kind: Annotated[Literal["case", "article", "ticket"] | None,
                                        Query(description="the kind of records without a kind field")] = None,
                        overwrite_reviewed: Annotated[bool, Query(
                            description="apply the upload's version of records changed in review since their "
                                        "last import (audited as overwrite_reviewed)")] = False,
                        wait: Annotated[bool, Query(
                            description="answer when the import is done (200), or 409 when it kept reviewed "
                                        "records in conflict with the upload")] = False,
                        ) -> ImportJobOut:
    jobs = st.jobs
    assert isinstance(jobs, ImportJobs)
    job_id, path = jobs.new_upload()
    total = 0
    tail = b""
    try:
        async with await anyio.open_file(path, "wb") as f:
            async for chunk in request.stream():
                if chunk:
                    await f.write(chunk)
                    data = tail + chunk
                    lines = data.split(b"\n")
                    tail = lines.pop()
                    total += sum(1 for ln in lines if ln.strip())
        total += 1 if tail.strip() else 0
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if total == 0:
        path.unlink(missing_ok=True)
        raise Problem(422, "validation_error", "the upload holds no records (send JSON Lines)")
    await anyio.to_thread.run_sync(jobs.submit, p, job_id, path, total, kind, overwrite_reviewed)
    job = jobs.get(p.tenant, job_id)
    assert job is not None
    if wait:
        while job.status not in ("done", "failed", "interrupted"):
            await anyio.sleep(0.05)
            job = await anyio.to_thread.run_sync(jobs.get, p.tenant, job_id)
            assert job is not None
        response.status_code = 200
        failure = jobs.failures.pop(job_id, None)
        if isinstance(failure, BackendError):
            raise from_error(failure)
        if isinstance(failure, sa.exc.OperationalError | sa.exc.InterfaceError):
            raise Problem(503, "backend_unavailable", "database is unavailable")
        conflicts = (job.summary or {}).get("conflicts") or []
        if conflicts:
            raise Problem(409, "conflict", "changed in review since the last import, kept: "
                          + "; ".join(describe_conflict(c, "overwrite_reviewed=true") for c in conflicts),
                          extra={"conflicts": conflicts, "job": ImportJobOut.model_validate(
                              asdict(job)).model_dump()})
    return ImportJobOut.model_validate({**asdict(job), "summary": job.summary or None})


@router.get("/imports/{job_id}", summary="An import job's progress, and its summary (with rejects) when done",
            response_model=ImportJobOut, responses=ERRORS)
def get_import(job_id: Annotated[str, Path(max_length=64)], p: Admin, st: State) -> ImportJobOut:
    assert isinstance(st.jobs, ImportJobs)
    job = st.jobs.get(p.tenant, job_id)
    if job is None:
        raise Problem(404, "not_found", f"no import job {job_id!r} in this tenant")
    return ImportJobOut.model_validate({**asdict(job), "summary": job.summary or None})


@router.post("/cases/{record_id}/archive", summary="Archive a case: it leaves retrieval at once",
             response_model=CaseStateOut, responses=ERRORS)
def archive(record_id: RecordId, p: Admin, st: State) -> CaseStateOut:
    tenant = st.tenants.get(p.tenant)
    with tenant.write() as lib:
        Review(lib, writer=Ingestor, actor=p.actor).archive(record_id, p.actor)
        rec = lib.store.get(p.tenant, record_id)
    assert rec is not None
    return CaseStateOut(id=rec.id, status=rec.status, version=rec.version)

"""A case's history: its versions, a diff of two, and restoring an earlier one as a new version."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from assistant.history import History
from ingestion.pipeline import Ingestor

from ..auth import Agent, Reviewer
from ..deps import PathId, State, readable_record
from ..problems import Problem
from ..schemas.history import DiffOut, RestoreOut, RestoreRequest, VersionsOut
from . import ERRORS

router = APIRouter(prefix="/v1", tags=["history"])
RecordId = PathId
Version = Annotated[int, Query(ge=1, description="a version number (GET /v1/cases/{id}/versions)")]


@router.get("/cases/{record_id}/versions", summary="A case's versions: who, when, which fields changed",
            description="Agents: of approved cases and published articles only, as for GET /v1/cases/{id}, "
                        "and only the versions that were approved or published.",
            response_model=VersionsOut, responses=ERRORS)
def versions(record_id: RecordId, p: Agent, st: State) -> VersionsOut:
    readable_record(record_id, p, st)
    # an agent never sees a draft's or a rejected wording, nor which fields a reviewer changed in it
    vs = History(st.tenants.get(p.tenant).library).versions(record_id, served_only=not p.may("reviewer"))
    return VersionsOut.model_validate({"id": record_id, "versions": [asdict(v) for v in vs]})


@router.get("/cases/{record_id}/diff", summary="What changed between two versions, section by section",
            response_model=DiffOut, responses=ERRORS)
def diff(record_id: RecordId, p: Agent, st: State, from_: Annotated[Version, Query(alias="from")],
         to: Version) -> DiffOut:
    readable_record(record_id, p, st)
    history = History(st.tenants.get(p.tenant).library)
    if not p.may("reviewer"):
        served = {v.version for v in history.versions(record_id, served_only=True)}
        hidden = sorted({from_, to} - served)
        if hidden:
            raise Problem(404, "not_found", f"no version {hidden[0]} of {record_id!r} that an agent may read")
    d = history.diff(record_id, from_, to)
    return DiffOut.model_validate(d.to_dict())


@router.post("/cases/{record_id}/restore", summary="Restore an earlier version's content as a new version",
             description="History is kept: the case gets a new version with the earlier content (its status "
                         "stays), audited as restore. 400 for the current version or one with the same content.",
             response_model=RestoreOut, responses=ERRORS)
def restore(record_id: RecordId, body: RestoreRequest, p: Reviewer, st: State) -> RestoreOut:
    with st.tenants.get(p.tenant).write() as lib:
        version, warnings = History(lib, writer=Ingestor).restore(record_id, body.version, p.actor)
        rec = lib.store.get(p.tenant, record_id)
    assert rec is not None
    return RestoreOut(id=record_id, version=version, restored_from=body.version, status=rec.status,
                      warnings=warnings)

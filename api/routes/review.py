"""Drafting cases from tickets, the review queue and its decisions, and tag suggestion."""

from __future__ import annotations

from fastapi import APIRouter, Response

from assistant.library import Library
from assistant.review import Review
from assistant.tagging import TagSuggester
from ingestion.pipeline import Ingestor

from ..auth import Reviewer
from ..deps import PathId, State
from ..schemas.records import CaseStateOut
from ..schemas.review import (
    ApproveRequest,
    DraftOut,
    DraftRequest,
    EditRequest,
    MergeOut,
    MergeRequest,
    QueueOut,
    RejectRequest,
    ReviewShowOut,
    StaleOut,
    TagsOut,
    TagsRequest,
)
from . import ERRORS, _problem

# a decision on a case that another reviewer (on any host) decided first, or a ticket drafted before
DECIDED = {**ERRORS, 409: _problem("the case is not in review any more, or the ticket was drafted before")}

router = APIRouter(prefix="/v1", tags=["review"])
CaseId = PathId


def _review(lib: Library, actor: str = "casepilot") -> Review:
    """The review workflow over ``lib``, storing its cases through the import pipeline."""
    return Review(lib, writer=Ingestor, actor=actor)


def _state(st: State, tenant: str, case_id: str, warnings: list[str] | None = None) -> CaseStateOut:
    rec = st.store.get(tenant, case_id)
    assert rec is not None
    return CaseStateOut(id=rec.id, status=rec.status, version=rec.version, warnings=warnings or [])


@router.post("/drafts", summary="Draft a case from a stored closed ticket, queued for review",
             description="201 with the new case's id; 200 with `case_id: null` and the reason in `skipped` "
                         "when the ticket gives nothing to draft from (nothing is created).",
             response_model=DraftOut, status_code=201,
             responses={**DECIDED, 200: {"model": DraftOut, "description": "the ticket was skipped: nothing created"}})
def draft(body: DraftRequest, p: Reviewer, st: State, response: Response) -> DraftOut:
    tenant = st.tenants.get(p.tenant)
    with tenant.write() as lib:
        d, cid = _review(lib, actor=p.actor).draft(body.ticket_id, redraft=body.redraft)
    if cid is None:
        response.status_code = 200  # nothing was created
    return DraftOut(case_id=cid, skipped=d.skipped or "", draft=d.to_dict())


@router.get("/review", summary="Cases waiting for review, newest first", response_model=QueueOut,
            responses=ERRORS)
def queue(p: Reviewer, st: State) -> QueueOut:
    return QueueOut.model_validate({"queue": _review(st.tenants.get(p.tenant).library).queue()})


# before /review/{case_id}, which would take "stale" for a case id
@router.get("/review/stale", summary="Approved cases due for re-review, each with the reasons",
            response_model=StaleOut, responses=ERRORS)
def stale(p: Reviewer, st: State) -> StaleOut:
    return StaleOut.model_validate({"stale": _review(st.tenants.get(p.tenant).library).stale()})


@router.get("/review/{case_id}", summary="A case under review: fields, draft provenance, citations, audit, "
            "and the source ticket", response_model=ReviewShowOut, responses=ERRORS)
def show(case_id: CaseId, p: Reviewer, st: State) -> ReviewShowOut:
    with st.tenants.get(p.tenant).read() as lib:  # a draft's promises are searched for in the library
        shown = _review(lib).show(case_id)
    ticket_id = (shown["draft"] or {}).get("ticket_id")
    ticket = st.store.get(p.tenant, ticket_id) if ticket_id else None
    return ReviewShowOut.model_validate({**shown, "ticket": ticket.data if ticket and ticket.kind == "ticket"
                                         else None})


@router.post("/review/{case_id}/approve", summary="Approve a draft (with optional edits): citable at once",
             description="A draft flagged as a likely duplicate of approved cases needs `distinct_reason`; "
                         "without it: 409 `duplicate_draft` naming the duplicates and the two ways forward "
                         "(merge, or approve as distinct).", response_model=CaseStateOut, responses=DECIDED)
def approve(case_id: CaseId, p: Reviewer, st: State, body: ApproveRequest | None = None) -> CaseStateOut:
    with st.tenants.get(p.tenant).write() as lib:
        warnings = _review(lib, actor=p.actor).approve(
            case_id, p.actor, {str(k): v for k, v in body.edits.items()} if body else {},
            distinct_reason=body.distinct_reason if body else "")
    return _state(st, p.tenant, case_id, warnings)


@router.post("/review/{case_id}/reject", summary="Reject a draft, with the reason", response_model=CaseStateOut,
             responses=DECIDED)
def reject(case_id: CaseId, body: RejectRequest, p: Reviewer, st: State) -> CaseStateOut:
    with st.tenants.get(p.tenant).write() as lib:
        _review(lib, actor=p.actor).reject(case_id, p.actor, body.reason)
    return _state(st, p.tenant, case_id)


@router.post("/review/{case_id}/edit", summary="Edit fields of a case (a new version)", response_model=CaseStateOut,
             responses=ERRORS)
def edit(case_id: CaseId, body: EditRequest, p: Reviewer, st: State) -> CaseStateOut:
    with st.tenants.get(p.tenant).write() as lib:
        warnings = _review(lib, actor=p.actor).edit(case_id, p.actor, {str(k): v for k, v in body.edits.items()})
    return _state(st, p.tenant, case_id, warnings)


@router.post("/review/{case_id}/merge", summary="Merge a draft into an existing approved case, section by section",
             description="The case's sections get the draft's sentences they do not already say, then the "
                         "reviewer's `edits`; both tickets stay its sources. `preview` returns the merged "
                         "sections without writing.", response_model=MergeOut, responses=DECIDED)
def merge(case_id: CaseId, body: MergeRequest, p: Reviewer, st: State) -> MergeOut:
    edits = {str(k): v for k, v in body.edits.items()}
    with st.tenants.get(p.tenant).write() as lib:
        merged = _review(lib, actor=p.actor).merge(case_id, body.into, p.actor, edits, preview=body.preview)
    state = _state(st, p.tenant, body.into)
    return MergeOut(id=state.id, status=state.status, version=state.version, merged=merged, preview=body.preview)


@router.post("/tags/suggest", summary="Taxonomy tags for a text, with confidences, or an abstention",
             response_model=TagsOut, response_model_exclude_none=True, responses=ERRORS)
def suggest_tags(body: TagsRequest, p: Reviewer, st: State) -> TagsOut:
    tenant = st.tenants.get(p.tenant)
    with st.fair.hold(p.tenant, len(body.text)), tenant.read() as lib:
        s = TagSuggester(lib).suggest(body.text, body.k)
    return TagsOut.model_validate(s.to_dict())

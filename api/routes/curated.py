"""Reviewer-curated answers: write one (or correct a logged answer), list them with their hits, edit,
retire, and read one's versions. Questions that mean the same get them through /v1/ask and the rest
of the answer path (``assistant.curated``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Query

from assistant.curated import CuratedAnswers

from ..auth import Reviewer
from ..deps import State
from ..schemas.curated import (
    CuratedEditRequest,
    CuratedListOut,
    CuratedOut,
    CuratedRequest,
    CuratedVersionsOut,
    RetireRequest,
)
from . import ERRORS, _problem

router = APIRouter(prefix="/v1", tags=["curated"])
# a second active curated answer for one question, a change to a retired one, or a concurrent change
CHANGED = {**ERRORS, 409: _problem("an active curated answer already has this question, the curated answer is "
                                   "retired, or it was changed meanwhile")}
CuratedId = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^CA-[0-9]{1,9}$",
                                description="a curated answer's id, CA-<n>")]


def _curated(p: Reviewer, st: State) -> CuratedAnswers:
    return CuratedAnswers(st.tenants.get(p.tenant).library)


@router.get("/curated", summary="The curated answers in use (retired=true: retired ones too), most used first, "
            "with their hits", response_model=CuratedListOut, responses=ERRORS)
def list_curated(p: Reviewer, st: State, retired: Annotated[bool, Query()] = False) -> CuratedListOut:
    rows = _curated(p, st).answers(retired=retired)
    return CuratedListOut.model_validate({"curated": [asdict(c) for c in rows]})


@router.post("/curated", summary="Curate the answer to a question, or correct a logged answer (from_answer)",
             description="Later questions that mean the same (the same wording, or question-space similarity "
                         "at or above a threshold measured for high precision) get this answer, labelled as curated. "
                         "400 when an active curated answer already has the same question.",
             response_model=CuratedOut, status_code=201, responses=CHANGED)
def add_curated(body: CuratedRequest, p: Reviewer, st: State) -> CuratedOut:
    cur = _curated(p, st)
    if body.from_answer:
        c = cur.add_from_answer(body.from_answer, body.answer, p.actor, question=body.question)
    else:
        assert body.question is not None  # the request's check
        c = cur.add(body.question, body.answer, p.actor)
    return CuratedOut.model_validate(asdict(c))


@router.get("/curated/{curated_id}", summary="One curated answer", response_model=CuratedOut, responses=ERRORS)
def get_curated(curated_id: CuratedId, p: Reviewer, st: State) -> CuratedOut:
    return CuratedOut.model_validate(asdict(_curated(p, st).get(curated_id)))


@router.post("/curated/{curated_id}/edit", summary="A new version with a new question and/or answer",
             response_model=CuratedOut, responses=CHANGED)
def edit_curated(curated_id: CuratedId, body: CuratedEditRequest, p: Reviewer, st: State) -> CuratedOut:
    c = _curated(p, st).edit(curated_id, p.actor, question=body.question, answer=body.answer)
    return CuratedOut.model_validate(asdict(c))


@router.post("/curated/{curated_id}/retire", summary="Stop serving a curated answer (its versions stay)",
             response_model=CuratedOut, responses=CHANGED)
def retire_curated(curated_id: CuratedId, p: Reviewer, st: State, body: RetireRequest | None = None) -> CuratedOut:
    c = _curated(p, st).retire(curated_id, p.actor, body.reason if body else "")
    return CuratedOut.model_validate(asdict(c))


@router.get("/curated/{curated_id}/versions", summary="Every version of a curated answer, oldest first",
            response_model=CuratedVersionsOut, responses=ERRORS)
def curated_versions(curated_id: CuratedId, p: Reviewer, st: State) -> CuratedVersionsOut:
    vs = _curated(p, st).versions(curated_id)
    return CuratedVersionsOut.model_validate({"id": curated_id, "versions": [asdict(v) for v in vs]})

"""Key management within the admin key's own tenant (``casepilot keys`` does the same locally)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Response

from ..auth import Admin, create_key
from ..deps import State
from ..problems import Problem
from ..schemas.ops import KeyCreatedOut, KeyCreateRequest, KeysOut
from . import ERRORS

router = APIRouter(prefix="/v1", tags=["keys"])


@router.get("/keys", summary="The tenant's API keys (ids, roles, names; never the secrets)",
            response_model=KeysOut, responses=ERRORS)
def list_keys(p: Admin, st: State) -> KeysOut:
    return KeysOut.model_validate({"keys": [asdict(k) for k in st.http.api_keys(p.tenant)]})


@router.post("/keys", summary="Create a key in this tenant; the key is shown once", response_model=KeyCreatedOut,
             status_code=201, responses=ERRORS)
def new_key(body: KeyCreateRequest, p: Admin, st: State) -> KeyCreatedOut:
    return KeyCreatedOut.model_validate(create_key(st.http, p.tenant, body.role, body.name))


@router.delete("/keys/{key_id}", summary="Revoke a key of this tenant", status_code=204,
               response_class=Response, responses=ERRORS)
def revoke_key(key_id: Annotated[str, Path(max_length=64)], p: Admin, st: State) -> Response:
    if not st.http.revoke_api_key(key_id, p.tenant):
        raise Problem(404, "not_found", f"no active key {key_id!r} in this tenant")
    return Response(status_code=204)

"""Operations: API keys, health and readiness, and the problem details every error is."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import Request_, Role


class KeyCreateRequest(Request_):
    role: Role
    name: str = Field(default="", max_length=200)

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "agent", "name": "helpdesk"}]})


class KeyOut(BaseModel):
    id: str
    tenant: str
    role: str
    name: str
    created_at: str
    revoked_at: str | None = None


class KeyCreatedOut(KeyOut):
    key: str = Field(description="the key; shown this once, only its hash is stored")


class KeysOut(BaseModel):
    keys: list[KeyOut]


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


class ProblemOut(BaseModel):
    """RFC 9457 problem details; ``code`` is stable."""

    type: str
    title: str
    status: int
    detail: str
    code: str

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "urn:casepilot:problem:not_found", "title": "Not found", "status": 404,
        "detail": "no case 'C-9' in tenant 'default'", "code": "not_found"}]})

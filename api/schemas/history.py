"""A case's history: its versions, a diff of two, and a restore (``api/routes/history.py``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .common import Request_


class VersionOut(BaseModel):
    version: int
    at: str
    actor: str
    action: str = Field(description="the audit action of the write: create, update, restore, archive, ...")
    changed: list[str] = Field(description="fields changed against the previous version (bookkeeping left out)")
    restored_from: int | None = Field(None, description="with action restore: the version restored")
    title: str
    status: str


class VersionsOut(BaseModel):
    id: str
    versions: list[VersionOut] = Field(description="oldest first; the last is the current version")

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "C-000102", "versions": [
        {"version": 1, "at": "2026-11-23T10:00:00+00:00", "actor": "import", "action": "create", "changed": [],
         "restored_from": None, "title": "办公室新打印机连不上公司无线网", "status": "approved"},
        {"version": 2, "at": "2026-11-24T09:00:00+00:00", "actor": "alice", "action": "update",
         "changed": ["solution"], "restored_from": None, "title": "办公室新打印机连不上公司无线网",
         "status": "approved"}]}]})


class FieldDiffOut(BaseModel):
    field: str
    kind: Literal["text", "list", "value"]
    diff: list[str] = Field(default_factory=list, description="text: unified diff lines, one sentence a line "
                                                              "(' ' kept, '-' removed, '+' added, '@@' a hunk)")
    added: list[str] = Field(default_factory=list, description="list: items only in the later version")
    removed: list[str] = Field(default_factory=list, description="list: items only in the earlier version")
    before: Any = Field(None, description="value: in version from")
    after: Any = Field(None, description="value: in version to")


class DiffOut(BaseModel):
    id: str
    from_version: int
    to_version: int
    changes: list[FieldDiffOut] = Field(description="the fields that differ: title, the case sections, tags, "
                                                    "product, status, …")

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "C-000102", "from_version": 1, "to_version": 2,
                                                               "changes": [{"field": "solution", "kind": "text",
                                                                            "diff": ["@@ -1,2 +1,2 @@",
                                                                                     "-1. 开启2.4GHz",
                                                                                     "+1. 更新固件",
                                                                                     " 2. 重新连接"]}]}]})


class RestoreRequest(Request_):
    version: int = Field(ge=1, description="the earlier version whose content becomes the new version")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": 1}]})


class RestoreOut(BaseModel):
    id: str
    version: int = Field(description="the new version, holding the restored content")
    restored_from: int
    status: str = Field(description="the case's status, kept as it was")
    warnings: list[str] = Field(default_factory=list)

"""Search, stored records, imports (an upload's job and its summary) and a helpdesk's tickets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from .common import Id, Kind, Request_, Status


class SearchFilters(Request_):
    """Every list holds alternatives, except ``tag`` (all required). ``status`` (reviewer and admin
    keys only) lifts the default of approved cases and published articles; ``any`` means any."""

    kind: list[Kind] = Field(default_factory=list, max_length=2)
    product: list[str] = Field(default_factory=list, max_length=20)
    tag: list[str] = Field(default_factory=list, max_length=20)
    id: list[Id] = Field(default_factory=list, max_length=100)
    status: list[Status] = Field(default_factory=list, max_length=7)


class SearchRequest(Request_):
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=5, ge=1, le=100)
    filters: SearchFilters | None = None
    explain: StrictBool = False

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"query": "印表機連不上網路", "k": 3}, {"query": "E-1024", "filters": {"kind": ["case"]}, "explain": True}]})


class HitOut(BaseModel):
    id: str
    kind: str
    title: str
    score: float
    section: str
    snippet: str
    heading: str = ""  # where in an article the hit is: "安装指南 > 无线网络 > 5GHz"
    explain: dict[str, Any] | None = None


class SearchOut(BaseModel):
    results: list[HitOut]

    model_config = ConfigDict(json_schema_extra={"examples": [{"results": [
        {"id": "C-000102", "kind": "case", "title": "办公室新打印机连不上公司无线网", "score": 1.0,
         "section": "problem", "snippet": "某律所新采购两台锐印 RP-M227 打印机…"}]}]})


class RecordOut(BaseModel):
    id: str
    kind: str
    status: str
    title: str
    product: str
    version: int
    created_at: str
    updated_at: str
    data: dict[str, Any] = Field(description="the record's fields as stored (DESIGN.md)")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "C-000102", "kind": "case", "status": "approved", "title": "办公室新打印机连不上公司无线网",
        "product": "RP-M227", "version": 1, "created_at": "2026-11-23T10:00:00+00:00",
        "updated_at": "2026-11-23T10:00:00+00:00",
        "data": {"id": "C-000102", "kind": "case", "title": "办公室新打印机连不上公司无线网", "problem": "…"}}]})


class RejectOut(BaseModel):
    line: int | None
    field: str | None
    error: str


class ImportConflictOut(BaseModel):
    id: str
    reviewed_version: int = Field(description="the version written in review since the record's last import")
    reviewed_by: str
    reviewed_at: str
    imported_version: int | None = Field(None, description="the record's last imported version")
    file: str = Field("", description="where the import's version is: upload:LINE")
    applied: bool = Field(False, description="whether the import's version replaced the reviewed one "
                                             "(overwrite_reviewed=true)")


class ImportSummaryOut(BaseModel):
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: list[RejectOut] = Field(default_factory=list)
    chunks_written: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0
    redacted: dict[str, int] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)
    conflicts: list[ImportConflictOut] = Field(
        default_factory=list, description="records changed in review since their last import whose upload "
                                          "version differs from that import: the reviewed version was kept")
    overwritten: list[ImportConflictOut] = Field(
        default_factory=list, description="the same, replaced on purpose (overwrite_reviewed=true; audited)")
    kept_reviewed: list[str] = Field(
        default_factory=list, description="records changed in review whose upload holds what was last "
                                          "imported: nothing applied, counted unchanged")


class ImportJobOut(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed", "interrupted"] = Field(
        description="interrupted: the host running it stopped; post the upload again")
    total: int = Field(description="records in the upload (lines that are not blank)")
    done: int = Field(description="records imported so far")
    summary: ImportSummaryOut | None = None
    error: str = ""
    created_at: str
    updated_at: str

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "9c1b2a3d4e5f60718293a4b5c6d7e8f9", "status": "done", "total": 3, "done": 2,
        "summary": {"added": 2, "updated": 0, "unchanged": 0, "removed": 0,
                    "rejected": [{"line": 3, "field": "severity", "error": "'P9' is not one of P1, P2, P3, P4"}]},
        "error": "", "created_at": "2026-11-23T10:00:00+00:00", "updated_at": "2026-11-23T10:00:02+00:00"}]})


class CaseStateOut(BaseModel):
    id: str
    status: str
    version: int
    warnings: list[str] = Field(default_factory=list,
                                description="what the write noticed, e.g. a tag that is not in the taxonomy")

    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "CD-T-2024-0301", "status": "approved",
                                                               "version": 2}]})


class TicketOut(BaseModel):
    """What ``POST /v1/tickets`` did with a helpdesk's ticket."""

    ticket_id: str = Field(description="the stored ticket's id (ZD-… for Zendesk, FD-… for Freshdesk)")
    stored: Literal["added", "updated", "unchanged"]
    status: str = Field(description="the ticket's status as stored")
    drafted: Literal["drafted", "skipped", "not_closed", "already_drafted", "already_decided"] = Field(
        description="drafted: a case is in review; skipped: nothing to draft (see reason); not_closed: stored "
                    "only; already_drafted: the same ticket again; already_decided: its draft was decided")
    case_id: str | None = Field(None, description="the case drafted from it, when there is one")
    reason: str = Field("", description="why it was not drafted")
    redacted: dict[str, int] = Field(default_factory=dict, description="values replaced by a placeholder, by kind")
    internal_notes: int = Field(0, description="internal notes kept with the ticket and left out of the draft")

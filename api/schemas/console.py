"""What the web console reads: who the key is, the taxonomy, and how often records are cited and rated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .common import Role


class MeOut(BaseModel):
    """Who the presented key is: the console shows only what this role may do."""

    key_id: str
    tenant: str
    role: Role
    name: str

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"key_id": "6b656b8c885f", "tenant": "default", "role": "reviewer", "name": "helpdesk"}]})


class TaxonomyValueOut(BaseModel):
    tag: str = Field(description="dimension/value, as cases and suggestions write it")
    value: str
    synonyms: list[str]
    description: str


class TaxonomyDimensionOut(BaseModel):
    name: str
    values: list[TaxonomyValueOut]


class TaxonomyOut(BaseModel):
    version: int = Field(0, description="the tenant's taxonomy version (each change makes one); 0: none imported")
    dimensions: list[TaxonomyDimensionOut] = Field(description="empty when no taxonomy was imported")


class TaxonomyPutOut(TaxonomyOut):
    changed: bool = Field(description="false when the body is the taxonomy already stored (no new version)")
    warnings: list[str] = Field(default_factory=list,
                                description="values the new taxonomy drops that the tenant's records still carry")


class CaseStatsOut(BaseModel):
    id: str
    cited: int = Field(description="answers that cited the record")
    helpful: int = Field(description="of those, answers whose newest rating is helpful")
    not_helpful: int


class RankedCaseOut(CaseStatsOut):
    title: str
    kind: str


class LibraryStatsOut(BaseModel):
    answers: int = Field(description="the recent answers counted (at most the request's window)")
    most_cited: list[RankedCaseOut]
    lowest_rated: list[RankedCaseOut] = Field(description="rated records, most not-helpful share first")

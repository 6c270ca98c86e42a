"""The key's tenant's tag taxonomy: read it (any role; the console's tag chips) and replace it (admin),
with the same YAML and the same checks as ``casepilot ingest --kind taxonomy FILE``. Each tenant has
its own; no route reads another tenant's."""

from __future__ import annotations

import json
from typing import Any

import anyio
import yaml
from fastapi import APIRouter, Request

from assistant.taxonomy import Taxonomy, TaxonomyError, TaxonomySyntaxError, parse_taxonomy

from ..auth import Admin, Agent
from ..deps import State
from ..problems import Problem
from ..schemas.console import TaxonomyOut, TaxonomyPutOut
from . import ERRORS, _problem

router = APIRouter(prefix="/v1", tags=["taxonomy"])

EXAMPLE = """dimensions:
  产品线:
    single: true
    values:
      打印机: {synonyms: [印表机, printer], description: 激光与喷墨打印机}
      计费系统: {synonyms: [账单, billing]}
  问题类型:
    values:
      网络连接: {synonyms: [连不上网, 断网, WiFi]}
"""
# the taxonomy as JSON Schema: exactly what assistant.taxonomy.parse_taxonomy accepts
_NAME = {"type": "string", "pattern": r"^[^/]*[^\s/][^/]*$", "description": "non-empty, without '/'"}
_VALUE = {"anyOf": [{"type": "null"}, {"type": "object", "properties": {
    "synonyms": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"type": ["string", "integer"]}}]},
    "description": {"type": ["string", "number", "null"]}}}]}
_DIMENSION = {"type": "object", "required": ["values"], "properties": {
    "single": {"type": "boolean", "description": "a record takes at most one value of this dimension"},
    "values": {"type": "object", "minProperties": 1, "propertyNames": _NAME, "additionalProperties": _VALUE}}}
TAXONOMY_SCHEMA = {"type": "object", "required": ["dimensions"], "properties": {
    "dimensions": {"type": "object", "minProperties": 1, "propertyNames": _NAME, "additionalProperties": _DIMENSION}}}
TAXONOMY_BODY = {"content": {"application/yaml": {"schema": TAXONOMY_SCHEMA, "example": EXAMPLE},
                             "application/json": {"schema": TAXONOMY_SCHEMA}},
                 "required": True, "description": "the taxonomy file as YAML (stored as sent, comments and all), "
                                                  "or the same structure as JSON; UTF-8"}


def _json_as_yaml(text: str) -> str:
    """A JSON taxonomy, checked, as the YAML that is stored (and exported)."""
    try:
        data = json.loads(text)
    except ValueError as e:
        raise TaxonomySyntaxError("the body", None, f"not JSON: {e}") from None
    parse_taxonomy(data)
    return str(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


def _dimensions(tax: Taxonomy | None) -> list[dict[str, Any]]:
    return [] if tax is None else [
        {"name": d, "values": [{"tag": f"{d}/{v}", "value": v, "synonyms": tv.synonyms, "description": tv.description}
                               for v, tv in values.items()]} for d, values in tax.dimensions.items()]


@router.get("/taxonomy", summary="The tenant's tag taxonomy: dimensions and their values",
            response_model=TaxonomyOut, responses=ERRORS)
def get_taxonomy(p: Agent, st: State) -> TaxonomyOut:
    version, tax = st.tenants.get(p.tenant).library.versioned_taxonomy()
    return TaxonomyOut.model_validate({"version": version, "dimensions": _dimensions(tax)})


@router.put("/taxonomy", summary="Replace the tenant's tag taxonomy (the previous one is kept as a version)",
            response_model=TaxonomyPutOut, openapi_extra={"requestBody": TAXONOMY_BODY},
            responses={**ERRORS, 400: _problem("the body is not YAML, or not UTF-8"),
                       422: _problem("the YAML is not a taxonomy (field names the place)")})
async def put_taxonomy(request: Request, p: Admin, st: State) -> TaxonomyPutOut:
    source = (await request.body()).decode("utf-8-sig")  # the middleware refused bytes that are not UTF-8
    if not source.strip():
        raise Problem(422, "validation_error", "the body is empty: send the taxonomy file")
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    try:  # checked before the tenant's write lock is taken (set_taxonomy checks it again)
        if media == "application/json" or media.endswith("+json"):
            source = _json_as_yaml(source)
        else:
            Taxonomy.parse(source, "the body")
    except TaxonomySyntaxError as e:
        raise Problem(400, "malformed_body", str(e), extra={"line": e.line}) from None
    except TaxonomyError as e:
        raise Problem(422, "validation_error", str(e), extra={"field": e.field}) from None

    def store() -> TaxonomyPutOut:
        tenant = st.tenants.get(p.tenant)
        with tenant.write() as lib:
            change = lib.set_taxonomy(source, actor=p.actor, origin="PUT /v1/taxonomy")
        warnings = [f"{tag}: the new taxonomy drops this value, which {n} of the tenant's records carry"
                    for tag, n in sorted(change.dropped_in_use.items(), key=lambda kv: (-kv[1], kv[0]))]
        return TaxonomyPutOut.model_validate({"version": change.version, "changed": change.changed,
                                              "dimensions": _dimensions(change.taxonomy), "warnings": warnings})

    return await anyio.to_thread.run_sync(store)

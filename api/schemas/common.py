"""What every request and response body shares: the id rule, the visible-text pattern, the enumerations
of roles, kinds and statuses, and ``Request_``, the base of every request (unknown fields are 422s)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from assistant.errors import InputError
from assistant.ids import ID_PATTERN, check_id

Role = Literal["agent", "reviewer", "admin"]
Kind = Literal["case", "article"]
Status = Literal["draft", "in_review", "approved", "rejected", "archived", "published", "any"]
# at least one character that str.strip() keeps (JSON Schema's \S still matches U+0085 and others)
VISIBLE = r"[^\s\u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


def valid_id(value: str) -> str:
    """``assistant.ids.check_id`` for request fields and path parameters: a look-alike id is a 422.
    Blanks around an id are refused too (the command line strips them), as ``ID_PATTERN`` says."""
    try:
        rid = check_id(value)
    except InputError as e:
        raise ValueError(str(e)) from None
    if value != value.strip():
        raise ValueError(f"id {value!r} has blanks around it")
    return rid


ID_DOC = "no white space or invisible characters, no '/', '\\', '#' or '..', not starting with '.' or '-'; NFC"
# the id rule (assistant.ids) in the document, checked by valid_id (pydantic's regex engine cannot run it)
ID_SCHEMA: dict[str, Any] = {"pattern": ID_PATTERN}
# an id of a case, article, ticket or thread, NFC-normalised
Id = Annotated[str, Field(min_length=1, max_length=200, description=ID_DOC, json_schema_extra=ID_SCHEMA),
               AfterValidator(valid_id)]


class Request_(BaseModel):
    """Unknown fields are 422s; so are booleans given as numbers or strings (``"explain": 0``)."""

    model_config = ConfigDict(extra="forbid")

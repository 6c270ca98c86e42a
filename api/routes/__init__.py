"""The API's routes, one module per area. Each route is thin: check, take the tenant's lock, call the
library, map the result to a response schema."""

from __future__ import annotations

from typing import Any

from ..schemas.ops import ProblemOut


def _problem(description: str) -> dict[str, Any]:
    return {"model": ProblemOut, "description": description}


# the error responses every authenticated route may give (moved to application/problem+json in app.py)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: _problem("invalid input, a malformed body, or a body that is not UTF-8"),
    401: _problem("no key, an unknown key or a revoked key"),
    403: _problem("the key's role may not do this"),
    404: _problem("no such record, answer, job or key in the key's tenant"),
    413: _problem("the body is over the size limit"),
    415: _problem("the content type is not JSON (JSON Lines for imports), or the charset is not UTF-8"),
    422: _problem("the body does not match the schema, or a question or conversation is too long"),
    429: _problem("the key is over its rate limit, or its tenant has as many long requests in progress as it "
                  "may (too_many_expensive_requests); see Retry-After"),
    502: _problem("the model endpoint failed"),
    503: _problem("the database or vector store is unavailable"),
    504: _problem("the model endpoint timed out"),
}

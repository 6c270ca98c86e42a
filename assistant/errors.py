"""The error tree. Every error casepilot raises on purpose is a ``CasepilotError``::

    CasepilotError
    ├── ConfigError        settings or installed state that cannot work (wrong embedding model for an index, ...)
    ├── InputError         the caller gave something malformed (bad file, bad field, bad filter)
    │   ├── NotFound       an id that does not exist (in this tenant)
    │   └── Conflict       the request is valid but the current state forbids it (the last admin key)
    │       └── DuplicateDraft  approving a likely duplicate without choosing merge or distinct
    ├── PermissionDenied   the caller may not do this
    └── BackendError       a backend (model endpoint, vector store, database) failed

The edges translate them: the CLI into a one-line message and an exit code (2 for ``InputError``,
1 otherwise), the API into problem-details responses.
"""

from __future__ import annotations


class CasepilotError(Exception):
    """Base of every error casepilot raises on purpose."""

    exit_code = 1


class ConfigError(CasepilotError):
    """Settings, or the state on disk, cannot work as configured."""


class InputError(CasepilotError):
    """Malformed or invalid input from the caller."""

    exit_code = 2


class QuestionTooLong(InputError):
    """A question over ``CASEPILOT_MAX_QUESTION_CHARS`` (counted after redaction)."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"the question is {length} characters; the limit is {limit}")
        self.length, self.limit = length, limit


class NotFound(InputError):
    """An id that does not exist in this tenant."""


class Conflict(InputError):
    """A valid request that the current state refuses (approving what is already approved, drafting
    a ticket drafted before, revoking a tenant's last admin key): 409 over HTTP, exit 2 on the command
    line."""


class DuplicateDraft(Conflict):
    """Approving a draft flagged as a likely duplicate of approved cases without saying what to do:
    merge it into one of them, or approve it as distinct with a reason."""

    def __init__(self, case_id: str, duplicates: list[dict[str, object]]) -> None:
        ids = ", ".join(str(d["id"]) for d in duplicates)
        super().__init__(f"{case_id} is a likely duplicate of {ids}: merge it into one of them, "
                         "or approve it as distinct with a reason")
        self.case_id, self.duplicates = case_id, duplicates


class PermissionDenied(CasepilotError):
    """The caller is not allowed to do this."""


class BackendError(CasepilotError):
    """A backend failed: a model endpoint, the vector store, the database."""

    def __init__(self, backend: str, message: str, status: int | None = None, *, timed_out: bool = False,
                 where: str = "") -> None:
        super().__init__(f"{backend}: {message}" + (f" ({where})" if where else ""))
        self.backend = backend
        self.status = status
        self.timed_out = timed_out  # no reply in time (the API answers 504, not 502)
        # the message without ``where`` (an endpoint's URL): what API clients are told, since the
        # URL of an internal model server is the operator's business; logs and the CLI show it
        self.public = f"{backend}: {message}"

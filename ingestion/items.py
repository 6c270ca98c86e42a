"""What a loader yields for each record it reads: the record, or why it was rejected and where, or a
taxonomy file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.types import Record


@dataclass
class Loaded:
    record: Record
    file: str
    line: int
    ignored: tuple[str, ...] = ()  # fields of the input that the record does not store
    notes: tuple[str, ...] = ()  # what was changed to make the record valid (a title joined into one line)
    digest: str = ""  # of its JSON Lines line as read (``loaders.line_digest``), when the reader asked for it

    @property
    def id(self) -> str:
        return self.record.id


@dataclass
class Known:
    """A JSON Lines record not parsed: its line is byte for byte one that an earlier import read as a
    valid record with no warnings (``loaders.parse_line`` reads it when it is needed after all)."""

    id: str
    tags: tuple[str, ...]
    file: str
    line: int
    digest: str
    raw: bytes
    kind: str | None


@dataclass
class Reject:
    file: str
    line: int | None
    field: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "error": self.error}

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {self.field + ': ' if self.field else ''}{self.error}"


@dataclass
class TaxonomyFile:
    path: Path
    data: dict[str, Any]
    text: str = ""  # the file as read: what the tenant's taxonomy stores, comments and all


Item = Loaded | Known | Reject | TaxonomyFile
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")

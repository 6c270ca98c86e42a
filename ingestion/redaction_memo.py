"""What each imported record's content hash was after redaction, keyed by the record as read.

Redaction was the largest part of an import that changes nothing (about 40% of it once the indexes
were no longer opened), and its result only depends on the record as read and on the redactor (its code
and the allow-list). So an import remembers, per record id, a hash of the record as read and the hash
of its redacted form; the next import that reads the same record with the same redactor knows the
redacted hash without redacting. It is a file under the home (derived, never the truth): an entry
is only trusted when the store still holds that hash, and a lost or stale file costs only time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from assistant import redact
from assistant.records import content_hash
from assistant.redact import Redactor
from assistant.types import CASE_SECTIONS, Record

# the free-text fields of each record kind that are redacted (a ticket's are its subject and messages)
TEXT_FIELDS = {"case": ("title", *CASE_SECTIONS), "article": ("title", "body")}


def redactor_key(redactor: Redactor) -> str:
    """What a redaction's result depends on besides the text: the redaction code (every module of the
    package, and which fields the pipeline redacts) and the allow-list."""
    allow = redactor.allow
    code = b"".join(p.read_bytes() for p in sorted(Path(redact.__file__).parent.glob("*.py")))
    code += json.dumps(TEXT_FIELDS, sort_keys=True).encode()
    lists = json.dumps([sorted(allow.emails), sorted(allow.email_domains), sorted(allow.phones),
                        redactor.keep_private_ips])
    return hashlib.sha256(code + lists.encode("utf-8")).hexdigest()


class RedactionMemo:
    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self._entries: dict[str, list[str]] = {}
        self._changed = False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("redactor") == key and isinstance(data.get("records"), dict):
                self._entries = data["records"]
        except (OSError, ValueError):
            pass  # none yet, or unreadable: rebuilt by this import

    @staticmethod
    def read_hash(record: Record) -> str:
        """The hash of the record as read (before redaction)."""
        return content_hash(record)

    def redacted_hash(self, record_id: str, read_hash: str) -> str | None:
        """The content hash the record had after redaction when it was last read as ``read_hash``."""
        entry = self._entries.get(record_id)
        return entry[1] if entry is not None and entry[0] == read_hash else None

    def remember(self, record_id: str, read_hash: str, redacted_hash: str) -> None:
        if self._entries.get(record_id) != [read_hash, redacted_hash]:
            self._entries[record_id] = [read_hash, redacted_hash]
            self._changed = True

    def save(self) -> None:
        """Write the file if an entry changed (replaced whole, so a reader never sees half of it)."""
        if not self._changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"redactor": self.key, "records": self._entries}), encoding="utf-8")
        os.replace(tmp, self.path)
        self._changed = False

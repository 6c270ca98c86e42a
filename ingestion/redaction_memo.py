"""What each imported record's content hash was after redaction, keyed by the record as read.

Redaction was the largest part of an import that changes nothing (about 40% of it once the indexes
were no longer opened), and its result only depends on the record as read and on the redactor (its code
and the allow-list). So an import remembers, per record id, a hash of the record as read and the hash
of its redacted form; the next import that reads the same record with the same redactor knows the
redacted hash without redacting. It is a file under the home (derived, never the truth): an entry
is only trusted when the store still holds that hash, and a lost or stale file costs only time.

An entry also keeps the digest of the JSON Lines line the record was read from (when the line gave
it without warnings) and its tags, so that a line read again byte for byte is known to be that
valid record without parsing it (``loaders.Known``): parsing and hashing were most of what was left
of an unchanged re-import. The digests hold only for the parsing code that made them
(``parser_key``); other code drops them.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import assistant
from assistant import redact
from assistant.records import content_hash
from assistant.redact import Redactor, add_counts
from assistant.types import CASE_SECTIONS, Article, Case, Record, Ticket

# the free-text fields of each record kind that are redacted (a ticket's are its subject and messages)
TEXT_FIELDS = {"case": ("title", *CASE_SECTIONS), "article": ("title", "body")}


def redact_record(rd: Redactor, record: Record, counts: dict[str, int] | None = None) -> Record:
    """``record`` with every text field redacted by ``rd`` (``Ingestor.redact``); what was replaced is
    added to ``counts``."""
    total = counts if counts is not None else {}
    if isinstance(record, Ticket):
        customers = {m.author for m in record.messages if m.role == "customer" and m.author}
        texts = [record.subject, *(m.text for m in record.messages)]
    else:
        customers = set()
        texts = [getattr(record, f) for f in TEXT_FIELDS[record.kind]]
    cued_names, addresses = rd.cued_values(texts)
    names = sorted(customers | set(cued_names))

    def red(text: str) -> str:
        res = rd.redact(text, names=names, addresses=addresses)
        add_counts(total, res.counts)
        return res.text

    if isinstance(record, Case):
        return replace(record, title=red(record.title), problem=red(record.problem),
                       diagnosis=red(record.diagnosis), solution=red(record.solution), outcome=red(record.outcome))
    if isinstance(record, Article):
        return replace(record, title=red(record.title), body=red(record.body))
    authors = {a: red(a) for a in sorted(customers)}  # counted once per ticket, not once per message
    messages = [replace(m, text=red(m.text), author=authors.get(m.author, m.author)
                        if m.role == "customer" else m.author) for m in record.messages]
    return replace(record, subject=red(record.subject), messages=messages)


def redactor_key(redactor: Redactor) -> str:
    """What a redaction's result depends on besides the text: the redaction code (every module of the
    package, and which fields the pipeline redacts, and how: this module) and the allow-list."""
    allow = redactor.allow
    code = b"".join(p.read_bytes() for p in sorted(Path(redact.__file__).parent.glob("*.py")))
    code += json.dumps(TEXT_FIELDS, sort_keys=True).encode() + Path(__file__).read_bytes()  # redact_record
    lists = json.dumps([sorted(allow.emails), sorted(allow.email_domains), sorted(allow.phones),
                        redactor.keep_private_ips])
    return hashlib.sha256(code + lists.encode("utf-8")).hexdigest()


def parser_key() -> str:
    """What reading a JSON Lines line into a record depends on: the loaders' and the validation's code
    (and Python's, for its json module)."""
    core = Path(assistant.__file__).parent
    files = [core / "records.py", core / "ids.py", core / "types.py", *(Path(__file__).parent / f for f in (
        "loaders.py", "items.py"))]
    return hashlib.sha256(b"".join(p.read_bytes() for p in files) + sys.version.encode()).hexdigest()


class RedactionMemo:
    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key
        self.parser = parser_key()
        # id -> [read hash, redacted hash] and, for a record read from a known line, [line digest, tags]
        self._entries: dict[str, list] = {}
        self._changed = False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("redactor") == key and isinstance(data.get("records"), dict):
                self._entries = data["records"]
                if data.get("parser") != self.parser:  # lines read by other code may read otherwise now
                    self._entries = {rid: e[:2] for rid, e in self._entries.items()}
                    self._changed = True
        except (OSError, ValueError):
            pass  # none yet, or unreadable: rebuilt by this import

    def lines(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """Line digest → (record id, tags) of the lines known to hold a valid record."""
        return {e[2]: (rid, tuple(e[3])) for rid, e in self._entries.items() if len(e) == 4}

    def line_hash(self, record_id: str, digest: str) -> str | None:
        """The redacted content hash of the record last read from the line of ``digest``."""
        entry = self._entries.get(record_id)
        return entry[1] if entry is not None and len(entry) == 4 and entry[2] == digest else None

    @staticmethod
    def read_hash(record: Record) -> str:
        """The hash of the record as read (before redaction)."""
        return content_hash(record)

    def redacted_hash(self, record_id: str, read_hash: str) -> str | None:
        """The content hash the record had after redaction when it was last read as ``read_hash``."""
        entry = self._entries.get(record_id)
        return entry[1] if entry is not None and entry[0] == read_hash else None

    def remember(self, record_id: str, read_hash: str, redacted_hash: str, digest: str = "",
                 tags: Sequence[str] = ()) -> None:
        """``digest``: of the line the record was read from, when it read without warnings."""
        entry = [read_hash, redacted_hash, digest, list(tags)] if digest else [read_hash, redacted_hash]
        if self._entries.get(record_id) != entry:
            self._entries[record_id] = entry
            self._changed = True

    def save(self) -> None:
        """Write the file if an entry changed (replaced whole, so a reader never sees half of it)."""
        if not self._changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"redactor": self.key, "parser": self.parser, "records": self._entries},
                                  ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)
        self._changed = False

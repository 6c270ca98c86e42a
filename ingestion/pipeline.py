"""The idempotent ingestion pipeline: files → validated records → store (one transaction a batch) →
vector and keyword indexes.

* unchanged records (same content hash) are skipped without a write;
* a changed record replaces exactly its old chunks (chunk ids are content-addressed);
* a record imported with ``status: archived``, or deleted, leaves both indexes at once;
* the store is written first and is the source of truth: if the process dies half-way, the next
  run (or the next search) sees that the indexes lag the store and repairs them;
* with ``settings.redact`` (the default) every text field is redacted (``assistant.redact``) before
  it is hashed, stored, chunked, indexed or logged; the summary counts what was replaced by kind;
* tags that are not values of the installed taxonomy are reported, not rejected;
* no review is lost to a re-import: a file import (``ingest_paths``) marks the versions it writes, and a
  record changed since its last import by anything else (a review's edit, approval, merge...) is not
  overwritten by a file whose version of it differs from that last import: it is reported in
  ``conflicts`` (the reviewed version stays) unless the Ingestor was made with
  ``overwrite_reviewed=True``, which applies the file's version and audits an ``overwrite_reviewed``
  entry naming the version it replaced. A file that still holds what was last imported (only review
  changed the record) applies nothing and is no conflict: the record is counted unchanged and listed
  in ``kept_reviewed``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from assistant.chunking import chunk_record
from assistant.errors import InputError
from assistant.index.sync import Indexes
from assistant.index.vectors import collection_name
from assistant.library import Library
from assistant.records import content_hash, parse_record
from assistant.redact import Redactor, add_counts
from assistant.store import RecordWrite
from assistant.types import Chunk, Record

from .documents import DocumentOptions
from .loaders import Known, Loaded, Reject, TaxonomyFile, load_paths, parse_line
from .redaction_memo import RedactionMemo, redact_record, redactor_key
from .report import IngestSummary, ignored_fields

log = logging.getLogger(__name__)
ProgressFactory = Callable[[int, str], Any]


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def stats(self, chunks: int, embedded: int, embed_seconds: float) -> None:
        """What the import wrote so far (a progress bar may show it)."""

    def close(self) -> None:
        pass


def _no_progress(total: int, desc: str) -> Any:
    return _NoProgress()


class Ingestor:
    def __init__(self, library: Library, *, actor: str = "import", progress: ProgressFactory = _no_progress,
                 overwrite_reviewed: bool = False, record_sources: bool = False, product: str = "") -> None:
        self.lib = library
        self.product = product  # of every document imported without one in its sidecar
        self.record_sources = record_sources  # remember each record's file (for ingest --sync)
        self.actor = actor
        self.progress = progress
        self.overwrite_reviewed = overwrite_reviewed
        # during ingest_paths: where each record was read ("file:line"), for the conflicts it reports
        self._sources: dict[str, str] | None = None
        s = library.settings
        self.passage_sections = tuple(s.passage_sections) if library.has_passage_space else ()
        self.article_chunk_tokens = s.article_chunk_tokens
        self.batch_size = s.ingest_batch_size
        self.redactor = Redactor(allow=library.redaction_allowlist) if s.redact else None
        # during ingest_records: what each record hashed to after redaction when last read as it is now
        self._memo: RedactionMemo | None = None
        # during ingest_records: the indexes once a batch needed them, with their embedding counters then
        self._idx: tuple[Indexes, float, int] | None = None
        # during ingest_records: the last written batch's index changes, applied once the next batch is
        # written (its texts embed in the background meanwhile: Indexes.prefetch)
        self._unapplied: tuple[list[Chunk], list[str], set[str]] | None = None
        # during ingest_paths: each record's file as stored before this import (set_sources skips the same)
        self._stored_sources: dict[str, str] = {}
        # during ingest_paths: the digest of each parsed record's JSON Lines line, for the memo
        self._digests: dict[str, str] = {}

    def chunks_for(self, record: Record) -> list[Chunk]:
        return chunk_record(record, passage_sections=self.passage_sections,
                            article_chunk_tokens=self.article_chunk_tokens)

    # ---- ingest --------------------------------------------------------------------------------

    def document_options(self, product: str = "") -> DocumentOptions:
        """How PDF, HTML, .docx and .txt files are read: the settings' size limits, and the product."""
        s = self.lib.settings
        return DocumentOptions(max_bytes=s.max_document_bytes, max_unzipped_bytes=s.max_document_unzipped_bytes,
                               product=product or self.product)

    def ingest_paths(self, paths: Iterable[str | Path], kind: str | None = None,
                     fmt: str | None = None, *, product: str = "") -> IngestSummary:
        """``fmt``: a helpdesk format (else told by the content); ``product``: given to every document
        (PDF, HTML, .docx, .txt) without one in its sidecar (default: the Ingestor's)."""
        t0 = time.perf_counter()
        summary = IngestSummary()
        loaded: list[Loaded | Known] = []
        seen: dict[str, Loaded | Known] = {}
        memo = self._open_memo()
        for item in load_paths(paths, kind, fmt, self.document_options(product),
                               known=memo.lines() if memo is not None else None):
            if isinstance(item, Reject):
                summary.rejected.append(item)
            elif isinstance(item, TaxonomyFile):
                summary.taxonomy = self.install_taxonomy(item, summary.warnings)
            else:
                prev = seen.get(item.id)
                if prev is not None:
                    summary.rejected.append(Reject(item.file, item.line, "id", f"{item.id!r} is already "
                                                   f"given at {prev.file}:{prev.line}; ids must be unique"))
                    continue
                seen[item.id] = item
                loaded.append(item)
        if self.redactor is not None:  # a reject may quote a field's value
            for r in summary.rejected:
                r.error = self.redactor.redact(r.error).text
        parsed = [x for x in loaded if isinstance(x, Loaded)]
        summary.warnings.extend(ignored_fields(parsed))
        summary.warnings.extend(f"{x.file}:{x.line}: {x.record.id}: {note}" for x in parsed for note in x.notes)
        if not loaded and not summary.rejected and summary.taxonomy is None:
            summary.warnings.append("the files hold no records (an empty file, or a folder without "
                                    ".jsonl, .csv or .md files?)")
        self._sources = {x.id: f"{x.file}:{x.line}" for x in loaded}
        summary.sources = {x.id: x.file for x in loaded}
        self._stored_sources = {}
        # a line's digest is remembered only when it reads without a warning: a known line gives none
        self._digests = {x.record.id: x.digest for x in parsed if x.digest and not x.ignored and not x.notes}
        try:
            self._ingest([x.record if isinstance(x, Loaded) else x for x in loaded], summary, memo)
            if self.record_sources:
                resolved = {f: str(Path(f).resolve()) for f in {x.file for x in loaded}}
                stored = self._stored_sources
                self.lib.store.set_sources(self.lib.tenant, {
                    rid: resolved[x.file] for x in loaded if stored.get(rid := x.id) != resolved[x.file]})
        finally:
            self._sources = None
            self._stored_sources = {}
            self._digests = {}
        summary.seconds = time.perf_counter() - t0
        return summary

    def ingest_records(self, records: Sequence[Record], summary: IngestSummary | None = None) -> IngestSummary:
        """Import ``records`` in batches. What nothing changed in costs a hash and one query a batch:
        the embedding models, the vector spaces and the keyword index are opened only when a batch
        writes chunks (or the indexes lag the store), and a record read as it was last time is not
        redacted again (``RedactionMemo``)."""
        return self._ingest(records, summary or IngestSummary(), self._open_memo())

    def _open_memo(self) -> RedactionMemo | None:
        """The tenant's import memo (None when nothing is redacted)."""
        if self.redactor is None:
            return None
        lib = self.lib
        return RedactionMemo(lib.settings.home / "import-hashes" / f"{collection_name(lib.tenant)}.json",
                             redactor_key(self.redactor))

    def _ingest(self, records: Sequence[Record | Known], summary: IngestSummary,
                memo: RedactionMemo | None) -> IngestSummary:
        """``ingest_records``; a ``Known`` line is parsed only if the store no longer holds its record."""
        t0 = time.perf_counter()
        counts: dict[str, dict[str, int]] = {}  # per record: only what is stored counts
        self._check_tags(records, summary)  # tags are not redacted: the records as read will do
        lib = self.lib
        self._idx = None
        self._memo = memo
        if not lib.indexes_in_sync():
            self._indexes().repair()
            summary.repaired = True
        bar = self.progress(len(records), "ingest")
        try:
            for i in range(0, len(records), self.batch_size):
                self._batch(records[i : i + self.batch_size], summary, counts)
                bar.update(len(records[i : i + self.batch_size]))
                if hasattr(bar, "stats"):  # a bar that shows chunks and the embedding rate
                    bar.stats(summary.chunks_written, *self._embedding_done())
            self._apply_unapplied()
            if self._idx is not None:
                self._idx[0].finish()
            if self._memo is not None:
                self._memo.save()
        except BaseException:
            if self._unapplied is not None:  # the batch before the failing one is stored: index it too
                try:
                    self._apply_unapplied()
                except Exception as e:
                    log.warning("the last stored batch did not reach the indexes (%s); the next open repairs them", e)
            raise
        finally:
            bar.close()
            self._memo = None
            self._unapplied = None
            if self._idx is not None:
                self._idx[0].drop_prefetched()
        for rid in {*summary.added, *summary.updated}:
            add_counts(summary.redacted, counts.get(rid, {}))
        embedded, embed_seconds = self._embedding_done()
        self._idx = None
        summary.embedded += embedded
        summary.embed_seconds += embed_seconds
        summary.seconds = time.perf_counter() - t0
        return summary

    def _indexes(self) -> Indexes:
        """The library's indexes, opened at their first use in this import."""
        if self._idx is None:
            idx = self.lib.indexes
            self._idx = (idx, idx.embed_seconds, idx.embedded_texts)
        return self._idx[0]

    def _embedding_done(self) -> tuple[int, float]:
        """Texts embedded and seconds spent embedding so far in this import."""
        if self._idx is None:
            return 0, 0.0
        idx, e0, n0 = self._idx
        return idx.embedded_texts - n0, idx.embed_seconds - e0

    def redact(self, record: Record, counts: dict[str, int] | None = None) -> Record:
        """The record with every text field redacted (unchanged when ``settings.redact`` is off);
        what was replaced is added to ``counts``. A name or address that a cue marks in one field
        (``联系人：王建国``) is redacted in every field of the record; so is a ticket's customer, named
        by the authors of its customer messages, who is also replaced as the author."""
        return record if self.redactor is None else redact_record(self.redactor, record, counts)

    def _check_tags(self, records: Sequence[Record | Known], summary: IngestSummary) -> None:
        """Report tags that the installed taxonomy does not hold (the records still import)."""
        try:
            taxonomy = self.lib.taxonomy
        except InputError as e:
            summary.warnings.append(f"tags not checked: {e}")
            return
        if taxonomy is None:
            return
        for r in records:
            for tag in getattr(r, "tags", ()):
                if tag not in taxonomy:
                    summary.unknown_tags.append((r.id, tag))
                    summary.warnings.append(f"{r.id}: tag {tag!r} is not in the taxonomy")
        if summary.unknown_tags:
            log.info("%d tags are not in the taxonomy", len(summary.unknown_tags))

    def _batch(self, batch: Sequence[Record | Known], summary: IngestSummary,
               counts: dict[str, dict[str, int]]) -> None:
        """One batch: compared with the store in one query; what changed is redacted (once), chunked
        and written in one transaction, then mirrored into the indexes."""
        lib = self.lib
        stored = lib.store.import_hashes(lib.tenant, [r.id for r in batch])
        if self._sources is not None:
            self._stored_sources.update({rid: old[2] for rid, old in stored.items()})
        memo = self._memo
        hashes: dict[str, str] = {}
        writes = []
        changed = []
        for item in batch:
            old = stored.get(item.id)
            live = old[0] if old is not None and not old[1] else None  # the stored hash of a live record
            if isinstance(item, Known):
                assert memo is not None  # known lines come from the memo
                if live is not None and memo.line_hash(item.id, item.digest) == live:
                    summary.unchanged.append(item.id)  # the same line as last time, stored as read then
                    continue
                r = self._parse_known(item, summary)
                if r is None:
                    continue
            else:
                r = item
            read = memo.read_hash(r) if memo is not None else ""
            digest = self._digests.get(r.id, "")
            if live is not None and memo is not None and memo.redacted_hash(r.id, read) == live:
                summary.unchanged.append(r.id)  # read as last time, and stored as redacted then
                memo.remember(r.id, read, live, digest, getattr(r, "tags", ()))
                continue
            r = self.redact(r, counts.setdefault(r.id, {}))
            hashes[r.id] = content_hash(r)
            if memo is not None:
                memo.remember(r.id, read, hashes[r.id], digest, getattr(r, "tags", ()))
            if live == hashes[r.id]:
                summary.unchanged.append(r.id)
                continue
            changed.append(r)
        importing = self._sources is not None
        overwrote: dict[str, dict[str, Any]] = {}
        state = (lib.store.import_state(lib.tenant, [r.id for r in changed if r.id in stored and not stored[r.id][1]])
                 if importing else {})
        for r in changed:
            st = state.get(r.id)
            if st is not None and st["imported_hash"] is not None and st["content_hash"] != st["imported_hash"]:
                # changed since its last import by something other than an import (a review)
                if hashes[r.id] == st["imported_hash"]:  # the file did not change: nothing to apply
                    summary.unchanged.append(r.id)
                    summary.kept_reviewed.append(r.id)
                    continue
                c = {"id": r.id, "reviewed_version": st["version"], "reviewed_by": st["actor"],
                     "reviewed_at": st["at"], "imported_version": st["imported_version"],
                     "file": (self._sources or {}).get(r.id, ""), "applied": self.overwrite_reviewed}
                if not self.overwrite_reviewed:
                    summary.conflicts.append(c)
                    continue
                summary.overwritten.append(c)
                overwrote[r.id] = {"replaced_version": st["version"], "replaced_by": st["actor"],
                                   "replaced_at": st["at"], "imported_version": st["imported_version"],
                                   "version": st["version"] + 1, "file": c["file"]}
            writes.append(RecordWrite(r.to_dict(), hashes[r.id], self.chunks_for(r)))
        if not writes:
            return
        if importing:
            res = lib.store.write_import(lib.tenant, writes, actor=self.actor, overwrote=overwrote)
        else:
            res = lib.store.write(lib.tenant, writes, actor=self.actor)
        summary.added += res.added
        summary.updated += res.updated
        summary.removed += res.removed
        summary.chunks_written += res.chunks_added
        summary.chunks_removed += res.chunks_removed
        if res.new_chunks or res.removed_chunk_ids:
            self._indexes().prefetch(res.new_chunks)
            self._apply_unapplied()
            self._unapplied = (res.new_chunks, res.removed_chunk_ids, res.removed_spaces)

    def _parse_known(self, item: Known, summary: IngestSummary) -> Record | None:
        """The record of a known line whose stored version changed since (or None, reported, should the
        line no longer read as one: the parser key makes that impossible, and this safe)."""
        got = parse_line(item.raw, item.file, item.line, item.kind, item.digest)
        if isinstance(got, Loaded) and got.record.id == item.id and not got.ignored and not got.notes:
            self._digests[item.id] = item.digest
            return got.record
        reject = got if isinstance(got, Reject) else Reject(item.file, item.line, None, "no longer reads as before")
        if self.redactor is not None:
            reject.error = self.redactor.redact(reject.error).text
        summary.rejected.append(reject)
        return None

    def _apply_unapplied(self) -> None:
        """Mirror the last written batch into the indexes (in the order the batches were written)."""
        if self._unapplied is not None:
            added, removed, spaces = self._unapplied
            self._unapplied = None
            self._indexes().apply(added, removed, spaces)

    # ---- delete, reindex, taxonomy -------------------------------------------------------------

    def delete(self, ids: Sequence[str]) -> tuple[list[str], list[str]]:
        lib = self.lib
        lib.indexes.ensure_synced()
        deleted, unknown, removed_chunks = lib.store.delete(lib.tenant, ids, actor=self.actor)
        lib.indexes.apply([], removed_chunks)
        lib.indexes.finish()
        return deleted, unknown

    def reindex(self) -> dict[str, Any]:
        """Re-chunk every stored record and rebuild both indexes from the store (embeddings come from
        the cache where the model already embedded the same text)."""
        t0 = time.perf_counter()
        lib = self.lib
        records = lib.store.records(lib.tenant)
        chunks = {r.id: self.chunks_for(parse_record(r.data)) for r in records}
        lib.store.set_chunks(lib.tenant, chunks)
        lib.reset_vectors()
        lib.keywords.generation = -1
        n_dense = sum(1 for cs in chunks.values() for c in cs if c.space)
        bar = self.progress(n_dense, "embed")
        try:
            report = lib.indexes.repair(progress=bar.update, rebuild=True)
        finally:
            bar.close()
        return {"records": len(records), "chunks": sum(len(c) for c in chunks.values()),
                "vectors": report.vectors_added, "embedded": lib.indexes.embedded_texts,
                "seconds": round(time.perf_counter() - t0, 3)}

    def install_taxonomy(self, tax: TaxonomyFile, warnings: list[str] | None = None) -> str:
        """The file becomes the tenant's taxonomy, a new version in the store (the one it replaces is
        kept as the version before; the same file again changes nothing). Values it drops that the
        tenant's records still carry are warned about, with how many records carry each: their tags
        stay, but are no longer suggested or known."""
        lib = self.lib
        change = lib.set_taxonomy(tax.text or tax.path.read_text(encoding="utf-8-sig"), actor=self.actor,
                                  origin=str(tax.path))
        if change.dropped_in_use and warnings is not None:
            used = ", ".join(f"{tag} ({n})" for tag, n in sorted(change.dropped_in_use.items(),
                                                                  key=lambda kv: (-kv[1], kv[0])))
            before = change.version - 1
            warnings.append(f"the new taxonomy drops {len(change.dropped_in_use)} values that stored records "
                            f"carry: {used}; the previous taxonomy is version {before} (casepilot tags taxonomy "
                            f"--export FILE --version {before} --tenant {lib.tenant})")
        dims = change.taxonomy.dimensions
        n_values = sum(len(values) for values in dims.values())
        state = f"version {change.version}" + ("" if change.changed else ", unchanged")
        return f"{len(dims)} dimensions, {n_values} values → tenant {lib.tenant} ({state})"

"""The idempotent ingestion pipeline: files → validated records → store (one transaction a batch) →
vector and keyword indexes.

* unchanged records (same content hash) are skipped without a write;
* a changed record replaces exactly its old chunks (chunk ids are content-addressed);
* a record imported with ``status: archived``, or deleted, leaves both indexes at once;
* the store is written first and is the source of truth: if the process dies half-way, the next
  run (or the next search) sees that the indexes lag the store and repairs them.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.library import Library
from assistant.store import RecordWrite
from assistant.types import Chunk, Record

from .chunking import chunk_record
from .loaders import Loaded, Reject, TaxonomyFile, load_paths
from .records import content_hash

log = logging.getLogger(__name__)
ProgressFactory = Callable[[int, str], Any]


@dataclass
class IngestSummary:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rejected: list[Reject] = field(default_factory=list)
    taxonomy: str | None = None
    chunks_written: int = 0
    chunks_removed: int = 0
    embedded: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    repaired: bool = False

    @property
    def records(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged) + len(self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added), "updated": len(self.updated), "unchanged": len(self.unchanged),
            "removed": len(self.removed), "rejected": [r.to_dict() for r in self.rejected],
            "taxonomy": self.taxonomy, "chunks_written": self.chunks_written,
            "chunks_removed": self.chunks_removed, "embedded": self.embedded,
            "embed_seconds": round(self.embed_seconds, 3), "seconds": round(self.seconds, 3),
            "chunks_per_second": round(self.chunks_written / self.seconds, 1) if self.seconds else 0.0,
        }


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _no_progress(total: int, desc: str) -> Any:
    return _NoProgress()


class Ingestor:
    def __init__(self, library: Library, *, actor: str = "import", progress: ProgressFactory = _no_progress) -> None:
        self.lib = library
        self.actor = actor
        self.progress = progress
        s = library.settings
        self.passage_sections = tuple(s.passage_sections) if library.has_passage_space else ()
        self.article_chunk_tokens = s.article_chunk_tokens
        self.batch_size = s.ingest_batch_size

    def chunks_for(self, record: Record) -> list[Chunk]:
        return chunk_record(record, passage_sections=self.passage_sections,
                            article_chunk_tokens=self.article_chunk_tokens)

    # ---- ingest --------------------------------------------------------------------------------

    def ingest_paths(self, paths: Iterable[str | Path], kind: str | None = None) -> IngestSummary:
        t0 = time.perf_counter()
        summary = IngestSummary()
        loaded: list[Loaded] = []
        seen: dict[str, Loaded] = {}
        for item in load_paths(paths, kind):
            if isinstance(item, Reject):
                summary.rejected.append(item)
            elif isinstance(item, TaxonomyFile):
                summary.taxonomy = self.install_taxonomy(item)
            else:
                prev = seen.get(item.record.id)
                if prev is not None:
                    summary.rejected.append(Reject(item.file, item.line, "id", f"{item.record.id!r} is already "
                                                   f"given at {prev.file}:{prev.line}; ids must be unique"))
                    continue
                seen[item.record.id] = item
                loaded.append(item)
        self.ingest_records([x.record for x in loaded], summary)
        summary.seconds = time.perf_counter() - t0
        return summary

    def ingest_records(self, records: Sequence[Record], summary: IngestSummary | None = None) -> IngestSummary:
        t0 = time.perf_counter()
        summary = summary or IngestSummary()
        lib = self.lib
        idx = lib.indexes
        e0, n0 = idx.embed_seconds, idx.embedded_texts
        summary.repaired = bool(idx.ensure_synced())
        bar = self.progress(len(records), "ingest")
        try:
            for i in range(0, len(records), self.batch_size):
                self._batch(records[i : i + self.batch_size], summary)
                bar.update(len(records[i : i + self.batch_size]))
        finally:
            bar.close()
        idx.finish()
        summary.embedded += idx.embedded_texts - n0
        summary.embed_seconds += idx.embed_seconds - e0
        summary.seconds = time.perf_counter() - t0
        return summary

    def _batch(self, batch: Sequence[Record], summary: IngestSummary) -> None:
        lib = self.lib
        hashes = {r.id: content_hash(r) for r in batch}
        stored = lib.store.content_hashes(lib.tenant, list(hashes))
        writes = []
        for r in batch:
            old = stored.get(r.id)
            if old is not None and old[0] == hashes[r.id] and not old[1]:
                summary.unchanged.append(r.id)
                continue
            writes.append(RecordWrite(r.to_dict(), hashes[r.id], self.chunks_for(r)))
        if not writes:
            return
        res = lib.store.write(lib.tenant, writes, actor=self.actor)
        summary.added += res.added
        summary.updated += res.updated
        summary.removed += res.removed
        summary.chunks_written += res.chunks_added
        summary.chunks_removed += res.chunks_removed
        lib.indexes.apply(res.new_chunks, res.removed_chunk_ids)

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
        from .records import parse_record

        chunks = {r.id: self.chunks_for(parse_record(r.data)) for r in records}
        lib.store.set_chunks(lib.tenant, chunks)
        lib.reset_vectors()
        lib.keywords.generation = -1
        n_dense = sum(1 for cs in chunks.values() for c in cs if c.space)
        bar = self.progress(n_dense, "embed")
        try:
            report = lib.indexes.repair(progress=bar.update)
        finally:
            bar.close()
        return {"records": len(records), "chunks": sum(len(c) for c in chunks.values()),
                "vectors": report.vectors_added, "embedded": lib.indexes.embedded_texts,
                "seconds": round(time.perf_counter() - t0, 3)}

    def install_taxonomy(self, tax: TaxonomyFile) -> str:
        target = self.lib.settings.taxonomy_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if tax.path.resolve() != target.resolve():
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.copyfile(tax.path, tmp)
            os.replace(tmp, target)
        for attr in ("taxonomy", "retriever"):  # the next search uses the new synonyms
            self.lib.__dict__.pop(attr, None)
        dims = tax.data["dimensions"]
        n_values = sum(len(d["values"]) for d in dims.values())
        return f"{len(dims)} dimensions, {n_values} values → {target}"

"""The keyword build's chunk list: each chunk's id and filterable metadata, in columns.

A build's manifest used to be JSON with one metadata dict per chunk; at 50,000 chunks writing and
reading it back cost a large part of patching the index for one changed case. Here each metadata
field is an int32 code per chunk (``columns.npz``) plus the table of its distinct values (in
``manifest.json`` with the ids), so that a patch keeps, adds and reorders chunks with array
operations, and the per-chunk dicts are only made when a search first needs them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# the single-valued fields of ``Chunk.metadata()``; "tags" is the one list
FIELDS = ("record_id", "kind", "section", "status", "product")
FORMAT = 2  # manifest.json holding "columns" (format 1 held a "meta" dict per chunk)


@dataclass
class ChunkColumns:
    """Chunk ``i`` has ``values[f][codes[f][i]]`` for each field ``f`` of ``FIELDS``, and the tags
    ``tag_values[tag_codes[tag_indptr[i]:tag_indptr[i + 1]]]``."""

    values: dict[str, list[Any]]
    codes: dict[str, np.ndarray]  # int32, one per chunk
    tag_values: list[str]
    tag_indptr: np.ndarray  # int64, one more than the chunks
    tag_codes: np.ndarray  # int32

    @property
    def size(self) -> int:
        return len(self.tag_indptr) - 1

    @classmethod
    def encode(cls, metas: Sequence[dict[str, Any]], like: ChunkColumns | None = None) -> ChunkColumns:
        """``metas`` (``Chunk.metadata()`` dicts) in columns; codes continue ``like``'s value tables."""
        values = {f: list(like.values[f]) if like else [] for f in FIELDS}
        codes = {}
        for f in FIELDS:
            index = {v: i for i, v in enumerate(values[f])}
            codes[f] = np.fromiter((index.setdefault(m.get(f), len(index)) for m in metas), dtype=np.int32,
                                   count=len(metas))
            values[f] = list(index)
        tag_index = {v: i for i, v in enumerate(like.tag_values if like else [])}
        tag_codes = [tag_index.setdefault(t, len(tag_index)) for m in metas for t in m.get("tags") or ()]
        tag_indptr = np.zeros(len(metas) + 1, dtype=np.int64)
        np.cumsum([len(m.get("tags") or ()) for m in metas], out=tag_indptr[1:])
        return cls(values, codes, list(tag_index), tag_indptr, np.asarray(tag_codes, dtype=np.int32))

    def metas(self) -> list[dict[str, Any]]:
        """Each chunk's ``Chunk.metadata()``."""
        cols = [[self.values[f][c] for c in self.codes[f].tolist()] for f in FIELDS]
        tags = [self.tag_values[c] for c in self.tag_codes.tolist()]
        bounds = self.tag_indptr.tolist()
        out = []
        for i, row in enumerate(zip(*cols, strict=True)):
            meta = dict(zip(FIELDS, row, strict=True))
            if bounds[i + 1] > bounds[i]:
                meta["tags"] = tags[bounds[i]:bounds[i + 1]]
            out.append(meta)
        return out

    def select(self, rows: np.ndarray) -> ChunkColumns:
        """The chunks at positions ``rows`` (int64), in that order."""
        sizes = np.diff(self.tag_indptr)[rows]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        at = np.repeat(self.tag_indptr[:-1][rows] - indptr[:-1], sizes) + np.arange(int(indptr[-1]), dtype=np.int64)
        return ChunkColumns(self.values, {f: c[rows] for f, c in self.codes.items()}, self.tag_values, indptr,
                            self.tag_codes[at])

    def extend(self, metas: Sequence[dict[str, Any]]) -> ChunkColumns:
        """These chunks, then ``metas``."""
        more = ChunkColumns.encode(metas, like=self)
        indptr = np.concatenate([self.tag_indptr, more.tag_indptr[1:] + self.tag_indptr[-1]])
        return ChunkColumns(more.values, {f: np.concatenate([self.codes[f], more.codes[f]]) for f in FIELDS},
                            more.tag_values, indptr, np.concatenate([self.tag_codes, more.tag_codes]))

    def compact(self) -> ChunkColumns:
        """The same chunks with only the values some chunk holds in each table."""
        values, codes = {}, {}
        for f in FIELDS:
            values[f], codes[f] = _used(self.values[f], self.codes[f])
        tag_values, tag_codes = _used(self.tag_values, self.tag_codes)
        return ChunkColumns(values, codes, tag_values, self.tag_indptr, tag_codes)

    def save(self, folder: Path, generation: int, ids: list[str]) -> None:
        arrays: dict[str, Any] = {"tag_indptr": self.tag_indptr, "tag_codes": self.tag_codes, **self.codes}
        np.savez(folder / "columns.npz", **arrays)
        (folder / "manifest.json").write_text(json.dumps(
            {"generation": generation, "format": FORMAT, "ids": ids,
             "columns": {**self.values, "tags": self.tag_values}}, ensure_ascii=False), encoding="utf-8")


def _used(values: list[Any], codes: np.ndarray) -> tuple[list[Any], np.ndarray]:
    used, inverse = np.unique(codes, return_inverse=True)
    if len(used) == len(values):
        return values, codes
    return [values[i] for i in used.tolist()], inverse.astype(np.int32).reshape(-1)


def load(folder: Path) -> tuple[int, list[str], ChunkColumns]:
    """A build's generation, chunk ids and columns; a build written before the columns (its manifest
    holds a dict per chunk) is read too."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    generation, ids = int(manifest["generation"]), manifest["ids"]
    if "meta" in manifest:
        return generation, ids, ChunkColumns.encode(manifest["meta"])
    cols = manifest["columns"]
    with np.load(folder / "columns.npz") as f:
        codes = {name: f[name] for name in FIELDS}
        tag_indptr, tag_codes = f["tag_indptr"], f["tag_codes"]
    return generation, ids, ChunkColumns({name: cols[name] for name in FIELDS}, codes, cols["tags"], tag_indptr,
                                         tag_codes)

"""Chunks (what the indexes hold, kept here as their source of truth), the index bookkeeping (each
tenant's chunk generation and sync state) and the embedding cache (vectors by model and text hash)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..text import keyword_tokens
from ..types import Chunk
from . import schema as t


@dataclass
class WriteResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # archived on import: gone from the indexes
    new_chunks: list[Chunk] = field(default_factory=list)
    removed_chunk_ids: list[str] = field(default_factory=list)
    removed_spaces: set[str] = field(default_factory=set)  # the vector spaces the removed chunks were in

    @property
    def chunks_added(self) -> int:
        return len(self.new_chunks)

    @property
    def chunks_removed(self) -> int:
        return len(self.removed_chunk_ids)


class ChunkReader(Protocol):
    """What retrieval reads: chunks by id, by record and section, by heading."""

    def chunks_by_id(self, tenant: str, ids: Sequence[str]) -> dict[str, Chunk]: ...

    def chunks_of(self, tenant: str, record_ids: Sequence[str], section: str) -> dict[str, Chunk]: ...

    def section_chunks(self, tenant: str, places: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Chunk]: ...


class IndexSource(Protocol):
    """What keeping the indexes in step with the store needs: the chunks, the generation and sync
    state, and the embedding cache."""

    def chunks(self, tenant: str, *, space: str | None = None, keyword: bool | None = None) -> list[Chunk]: ...

    def chunk_tokens(self, tenant: str, ids: Sequence[str] | None = None) -> list[tuple[Chunk, list[str]]]: ...

    def keyword_chunk_ids(self, tenant: str) -> set[str]: ...

    def generation(self, tenant: str) -> int: ...

    def get_states(self, tenant: str, keys: Sequence[str]) -> dict[str, str]: ...

    def set_state(self, tenant: str, key: str, value: str) -> None: ...

    def get_vectors(self, model_id: str, text_hashes: Sequence[str]) -> dict[str, np.ndarray]: ...

    def put_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None: ...


# a chunk's columns without its keyword tokens, which only the keyword index reads
_CHUNK_COLUMNS = [col for col in t.chunks.c if col.name != "tokens"]

# statements built once: building one cost more than running it
_p = sa.bindparam
_CHUNKS_BY_ID = sa.select(*_CHUNK_COLUMNS).where(t.chunks.c.tenant == _p("tenant"),
                                                 t.chunks.c.chunk_id.in_(_p("ids", expanding=True)))
_CHUNKS_OF = (sa.select(*_CHUNK_COLUMNS)
              .where(t.chunks.c.tenant == _p("tenant"), t.chunks.c.record_id.in_(_p("ids", expanding=True)),
                     t.chunks.c.section == _p("section"))
              .order_by(t.chunks.c.ordinal.desc()))
_VECTORS = sa.select(t.embeddings.c.text_hash, t.embeddings.c.vector).where(
    t.embeddings.c.model == _p("model"), t.embeddings.c.text_hash.in_(_p("hashes", expanding=True)))
_STATES = sa.select(t.index_state.c.key, t.index_state.c.value).where(
    t.index_state.c.tenant == _p("tenant"), t.index_state.c.key.in_(_p("keys", expanding=True)))


def _row_to_chunk(row: Any) -> Chunk:
    return Chunk(
        id=row.chunk_id, record_id=row.record_id, kind=row.kind, section=row.section, ordinal=row.ordinal,
        title=row.title, text=row.text, index_text=row.index_text, space=row.space, status=row.status,
        product=row.product, tags=tuple(json.loads(row.tags)), keyword=bool(row.keyword), heading=row.heading,
    )


def _tokens_of(ch: Chunk) -> list[str]:
    """Keyword tokens are computed once, when a chunk is stored, so rebuilding the keyword index
    from the store costs no re-tokenisation."""
    return keyword_tokens(ch.index_text, normalised=True)


def _joined_tokens(ch: Chunk, done: dict[str, str]) -> str:
    """``_tokens_of(ch)`` as stored, computed once per distinct index text in ``done``."""
    got = done.get(ch.index_text)
    if got is None:
        got = done[ch.index_text] = " ".join(_tokens_of(ch))
    return got


class ChunkStore:
    """The ``Store``'s chunk, index-state and embedding-cache methods (a mixin: ``Store`` gives the engine)."""

    engine: Engine
    # chunk writes through this store that have finished (committed or not): a cache of chunks read
    # during one is dropped at the next read (``assistant.retrieval.Retriever``)
    chunk_writes = 0

    @contextmanager
    def _chunk_write(self) -> Iterator[Connection]:
        """A transaction that may change chunks, counted in ``chunk_writes`` once it has ended."""
        try:
            with self.engine.begin() as conn:
                yield conn
        finally:
            self.chunk_writes += 1

    def _replace_chunks(self, conn: Connection, tenant: str, rid: str, new: Sequence[Chunk],
                        res: WriteResult) -> None:
        c = t.chunks.c
        q = sa.select(c.chunk_id, c.space).where(c.tenant == tenant, c.record_id == rid)
        spaces: dict[str, str] = {r.chunk_id: r.space for r in conn.execute(q)}
        have = set(spaces)
        want = {ch.id: ch for ch in new}
        stale = have - set(want)
        res.removed_spaces.update(spaces[i] for i in stale if spaces[i])
        if stale:
            conn.execute(sa.delete(t.chunks).where(c.tenant == tenant, c.chunk_id.in_(stale)))
        fresh = [ch for cid, ch in want.items() if cid not in have]
        tokens: dict[str, str] = {}  # by index text: a case's view is often its problem section's text
        if fresh:
            conn.execute(sa.insert(t.chunks), [
                {"tenant": tenant, "chunk_id": ch.id, "record_id": ch.record_id, "kind": ch.kind,
                 "section": ch.section, "ordinal": ch.ordinal, "title": ch.title, "text": ch.text,
                 "index_text": ch.index_text, "tokens": _joined_tokens(ch, tokens) if ch.keyword else "",
                 "space": ch.space, "keyword": ch.keyword,
                 "status": ch.status, "product": ch.product, "tags": json.dumps(list(ch.tags), ensure_ascii=False),
                 "heading": ch.heading}
                for ch in fresh
            ])
        res.new_chunks.extend(fresh)
        res.removed_chunk_ids.extend(sorted(stale))

    def set_chunks(self, tenant: str, chunks_by_record: Mapping[str, Sequence[Chunk]]) -> WriteResult:
        """Replace records' chunks without a new record version (re-chunking on reindex)."""
        res = WriteResult()
        with self._chunk_write() as conn:
            for rid, chunks in chunks_by_record.items():
                self._replace_chunks(conn, tenant, rid, chunks, res)
            if res.chunks_added or res.chunks_removed:
                self._bump_generation(conn, tenant)
        return res

    def chunks(self, tenant: str, *, space: str | None = None, keyword: bool | None = None) -> list[Chunk]:
        """The tenant's chunks; ``space`` / ``keyword`` select those of one vector space / the keyword index."""
        c = t.chunks.c
        q = sa.select(*_CHUNK_COLUMNS).where(c.tenant == tenant).order_by(c.chunk_id)
        if space is not None:
            q = q.where(c.space == space)
        if keyword is not None:
            q = q.where(c.keyword == (sa.true() if keyword else sa.false()))
        with self.engine.connect() as conn:
            return [_row_to_chunk(r) for r in conn.execute(q)]

    def chunk_tokens(self, tenant: str, ids: Sequence[str] | None = None) -> list[tuple[Chunk, list[str]]]:
        """The chunks of the keyword index (those of ``ids`` only, when given) with their stored tokens.
        Tokens are interned: a library's chunks hold millions of tokens but only tens of thousands of
        distinct ones."""
        c = t.chunks.c
        q = sa.select(t.chunks).where(c.tenant == tenant, c.keyword == sa.true()).order_by(c.chunk_id)
        intern = sys.intern
        parts = [q] if ids is None else [q.where(c.chunk_id.in_(ids[i : i + 500])) for i in range(0, len(ids), 500)]
        with self.engine.connect() as conn:
            return [(_row_to_chunk(r), [intern(tok) for tok in r.tokens.split()])
                    for part in parts for r in conn.execute(part)]

    def keyword_chunk_ids(self, tenant: str) -> set[str]:
        c = t.chunks.c
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(c.chunk_id).where(c.tenant == tenant, c.keyword == sa.true())).scalars())

    def chunks_of(self, tenant: str, record_ids: Sequence[str], section: str) -> dict[str, Chunk]:
        """``record id -> its first chunk of section``."""
        with self.engine.connect() as conn:
            rows = conn.execute(_CHUNKS_OF, {"tenant": tenant, "ids": list(record_ids), "section": section})
            return {r.record_id: _row_to_chunk(r) for r in rows}

    def section_chunks(self, tenant: str, places: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Chunk]:
        """``(record id, heading path) -> the first body chunk under that heading``."""
        if not places:
            return {}
        c = t.chunks.c
        q = (sa.select(*_CHUNK_COLUMNS)
             .where(c.tenant == tenant, c.section == "body", c.record_id.in_({r for r, _ in places}),
                    c.heading.in_({h for _, h in places}))
             .order_by(c.ordinal.desc()))
        with self.engine.connect() as conn:
            found = {(r.record_id, r.heading): _row_to_chunk(r) for r in conn.execute(q)}
        return {p: found[p] for p in places if p in found}

    def chunks_by_id(self, tenant: str, ids: Sequence[str]) -> dict[str, Chunk]:
        out: dict[str, Chunk] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(_CHUNKS_BY_ID, {"tenant": tenant, "ids": list(ids[i : i + 500])})
                out.update({r.chunk_id: _row_to_chunk(r) for r in rows})
        return out

    # ---- embedding cache -----------------------------------------------------------------------

    def get_vectors(self, model_id: str, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(text_hashes), 500):
                rows = conn.execute(_VECTORS, {"model": model_id, "hashes": list(text_hashes[i : i + 500])})
                out.update({r.text_hash: np.frombuffer(r.vector, dtype=np.float32) for r in rows})
        return out

    def put_vectors(self, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        with self.engine.begin() as conn:
            self._put_vectors(conn, model_id, vectors)

    @staticmethod
    def _put_vectors(conn: Connection, model_id: str, vectors: dict[str, np.ndarray]) -> None:
        if not vectors:
            return
        have = set()
        keys = list(vectors)
        for i in range(0, len(keys), 500):
            have |= set(conn.execute(sa.select(t.embeddings.c.text_hash).where(
                t.embeddings.c.model == model_id, t.embeddings.c.text_hash.in_(keys[i : i + 500]))).scalars())
        rows = [{"model": model_id, "text_hash": h, "vector": np.asarray(v, dtype=np.float32).tobytes()}
                for h, v in vectors.items() if h not in have]
        if rows:
            conn.execute(sa.insert(t.embeddings), rows)

    def trim_vectors(self, model_id: str, keep: int) -> int:
        """Hold at most about ``keep`` cached vectors of ``model_id``: beyond that, drop the rows whose
        hash is below a cut (uniform hashes: a random share, about a fifth of ``keep``). Rows dropped."""
        c = t.embeddings.c
        with self.engine.begin() as conn:
            n = conn.execute(sa.select(sa.func.count()).where(c.model == model_id)).scalar_one()
            if n <= keep:
                return 0
            cut = f"{int(16 ** 8 * (n - 0.8 * keep) / n):08x}"
            return conn.execute(sa.delete(t.embeddings).where(c.model == model_id, c.text_hash < cut)).rowcount or 0

    # ---- index bookkeeping ---------------------------------------------------------------------

    def _bump_generation(self, conn: Connection, tenant: str) -> None:
        cur = self._get_state(conn, tenant, "generation")
        self._set_state(conn, tenant, "generation", str(int(cur or 0) + 1))

    def generation(self, tenant: str) -> int:
        with self.engine.connect() as conn:
            return int(self._get_state(conn, tenant, "generation") or 0)

    def get_state(self, tenant: str, key: str) -> str | None:
        with self.engine.connect() as conn:
            return self._get_state(conn, tenant, key)

    def get_states(self, tenant: str, keys: Sequence[str]) -> dict[str, str]:
        """Several of ``get_state`` in one query (absent keys are left out)."""
        with self.engine.connect() as conn:
            return {r.key: r.value for r in conn.execute(_STATES, {"tenant": tenant, "keys": list(keys)})}

    def set_state(self, tenant: str, key: str, value: str) -> None:
        with self.engine.begin() as conn:
            self._set_state(conn, tenant, key, value)

    @staticmethod
    def _get_state(conn: Connection, tenant: str, key: str) -> str | None:
        return conn.execute(sa.select(t.index_state.c.value).where(
            t.index_state.c.tenant == tenant, t.index_state.c.key == key)).scalar()

    @staticmethod
    def _set_state(conn: Connection, tenant: str, key: str, value: str) -> None:
        c = t.index_state.c
        n = conn.execute(sa.update(t.index_state).where(c.tenant == tenant, c.key == key).values(value=value)).rowcount
        if not n:
            conn.execute(sa.insert(t.index_state).values(tenant=tenant, key=key, value=value))

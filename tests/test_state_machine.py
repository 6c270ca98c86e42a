"""Random sequences of ingest, re-ingest, update, archive, delete, reindex and interrupted ingest,
checked after every step against a plain in-memory model: the store, Chroma and the keyword index
hold exactly the chunks the model says, with the same text; nothing stale, nothing missing."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from assistant.chunking import chunk_record
from assistant.embeddings import HashEmbedder
from assistant.library import Library
from assistant.records import parse_record
from assistant.settings import Settings
from ingestion.pipeline import Ingestor

IDS = ["C-1", "C-2", "C-3", "KB-1", "KB-2"]
TITLES = ["打印机无法连接无线网络", "印表機卡紙", "账单重复扣费 E-1024", "App登录验证码收不到"]
BODIES = ["1. 重启路由器\n2. 重新配网。", "检查MAC地址过滤。", "Reset the DNS cache, then retry.", "核对流水后退款。" * 3]
STATUSES = ["approved", "approved", "in_review", "archived"]


class Interrupted(Exception):
    pass


class FlakyEmbedder(HashEmbedder):
    """Fails when armed, after the store write of a batch: an ingest that dies half-way."""

    armed = False

    def embed_passages(self, texts: Any) -> np.ndarray:
        if self.armed:
            raise Interrupted("killed")
        return super().embed_passages(texts)


def make_record(rid: str, title: int, body: int, status: int) -> dict[str, Any]:
    if rid.startswith("KB"):
        return {"kind": "article", "id": rid, "title": TITLES[title], "body": BODIES[body] * 2,
                "status": "archived" if STATUSES[status] == "archived" else "published", "tags": ["产品线/打印机"]}
    return {"kind": "case", "id": rid, "title": TITLES[title], "problem": TITLES[title] + "，客户很着急。",
            "solution": BODIES[body], "status": STATUSES[status], "tags": [f"产品线/{title}"]}


records_st = st.lists(
    st.builds(make_record, st.sampled_from(IDS), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    min_size=1, max_size=4, unique_by=lambda r: r["id"],
)


class LibraryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="cp-sm-"))
        self.settings = Settings(home=self.dir, embedder="hash", ingest_batch_size=8)
        self.embedder = FlakyEmbedder()
        self.lib = Library(self.settings, embedder=self.embedder)
        self.model: dict[str, dict[str, Any]] = {}  # id -> record, for records present (not deleted)
        self.last: list[dict[str, Any]] = []

    def teardown(self) -> None:
        self.lib.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def _ingest(self, records: list[dict[str, Any]]) -> Any:
        parsed = [parse_record(r) for r in records]
        summary = Ingestor(self.lib).ingest_records(parsed)
        self.model.update({r["id"]: r for r in records})
        self.last = records
        return summary

    @rule(records=records_st)
    def ingest(self, records: list[dict[str, Any]]) -> None:
        self._ingest(records)

    @rule()
    def reingest_unchanged(self) -> None:
        if not self.last or any(r["id"] not in self.model or self.model[r["id"]] != r for r in self.last):
            return
        gen = self.lib.store.generation(self.lib.tenant)
        s = self._ingest(self.last)
        assert (s.added, s.updated, s.removed, s.chunks_written) == ([], [], [], 0)
        assert self.lib.store.generation(self.lib.tenant) == gen

    @rule(rid=st.sampled_from(IDS))
    def archive(self, rid: str) -> None:
        if rid in self.model:
            self._ingest([{**self.model[rid], "status": "archived"}])

    @rule(rid=st.sampled_from(IDS))
    def delete(self, rid: str) -> None:
        deleted, _unknown = Ingestor(self.lib).delete([rid])
        assert (deleted == [rid]) == (rid in self.model)
        self.model.pop(rid, None)

    @rule()
    def reindex(self) -> None:
        Ingestor(self.lib).reindex()

    @rule(records=records_st)
    def interrupted_ingest(self, records: list[dict[str, Any]]) -> None:
        self.embedder.armed = True
        try:
            self._ingest(records)
        except Interrupted:
            # the store transaction committed before the index step died
            self.model.update({r["id"]: r for r in records})
        finally:
            self.embedder.armed = False

    @rule()
    def reopen(self) -> None:
        """A new process: nothing carried over in memory."""
        self.lib.close()
        self.lib = Library(self.settings, embedder=self.embedder)

    @invariant()
    def indexes_agree_with_model(self) -> None:
        lib = self.lib
        lib.keywords.refresh()
        lib.indexes.ensure_synced()  # what every reader does first
        want = {c.id: c for r in self.model.values() for c in chunk_record(parse_record(r))}
        store_chunks = {c.id: c for c in lib.store.chunks(lib.tenant)}
        assert set(store_chunks) == set(want)
        assert all(store_chunks[i].text == want[i].text for i in want)
        for name, space in lib.spaces.items():
            mine = {i for i, c in want.items() if c.space == name}
            assert space.vectors.ids() == mine, name
            if mine:
                docs = space.vectors.documents(sorted(mine))
                assert all(docs[i] == want[i].index_text for i in mine)
        assert lib.keywords.ids() == {i for i, c in want.items() if c.keyword}
        live = {r.id for r in lib.store.records(lib.tenant)}
        assert live == set(self.model)


LibraryMachine.TestCase.settings = settings(
    max_examples=20, stateful_step_count=8, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestLibraryStateMachine = LibraryMachine.TestCase

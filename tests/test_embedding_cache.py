"""The in-memory embedding cache: the same vectors as the model, each text embedded once, least
recently used texts dropped first, safe under threads."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from assistant.embeddings import CachingEmbedder, HashEmbedder, make_embedder


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

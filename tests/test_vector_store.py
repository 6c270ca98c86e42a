"""ChromaVectorStore's filtered query: post-filtering an over-fetched list of neighbour ids (using the
keyword index's catalogue of which records pass) when the filter passes most records, Chroma's own
filter when it is selective; either way the exact filtered top-n."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.index.filters import Catalogue, Filters
from assistant.index.vectors import ChromaVectorStore, chroma_client
from assistant.types import Chunk


def _chunk(i: int, product: str, status: str = "approved") -> Chunk:
    return Chunk(id=f"R{i}#view.0#h", record_id=f"R{i}", kind="case", section="view", ordinal=0, title="t",
                 text="t", index_text=f"t{i}", space="passage", status=status, product=product)


def test_filtered_queries_return_the_exact_filtered_top_n(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 300
    vecs = rng.normal(size=(n, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    chunks = [_chunk(i, "rare" if i % 50 == 0 else "common", "draft" if i % 7 == 0 else "approved") for i in range(n)]
    store = ChromaVectorStore(chroma_client(tmp_path / "chroma"), "t", "test-16", "passage")
    store.upsert(chunks, vecs)
    q = rng.normal(size=16).astype(np.float32)
    q /= np.linalg.norm(q)
    sims = vecs @ q

    def expected(f: Filters, k: int) -> list[str]:
        ok = [i for i in np.argsort(-sims) if f.matches(chunks[i].metadata())]
        return [chunks[i].id for i in ok[:k]]

    for f in (Filters(), Filters(products=("rare",)), Filters(statuses=("draft",)), Filters(statuses=()),
              Filters(products=("none",))):
        got = [cid for cid, _ in store.query(q, 5, f)]
        assert got == expected(f, 5), f
        # with the keyword index's catalogue of which records pass: the same exact answer
        cat = Catalogue([c.metadata() for c in chunks])
        allowed = cat.allowed(cat.mask(f))
        assert [cid for cid, _ in store.query(q, 5, f, allowed)] == expected(f, 5), f
        store.MAX_OVERFETCH = 20  # too few of 20 neighbours pass a selective filter: Chroma's filter
        assert [cid for cid, _ in store.query(q, 5, f, allowed)] == expected(f, 5), f
        del store.MAX_OVERFETCH
    rare = store.query(q, 10, Filters(products=("rare",)))  # only 6 exist: the selective path
    assert sorted(cid for cid, _ in rare) == sorted(c.id for c in chunks if c.product == "rare" and c.status == "approved")


def test_the_catalogue_agrees_with_the_filter_predicate() -> None:
    """The columnar masks give exactly ``Filters.matches`` for every kind of filter, and the records
    that pass are those with a passing chunk."""
    metas = []
    for i in range(300):
        meta = _chunk(i, "rare" if i % 50 == 0 else "common", "draft" if i % 7 == 0 else "approved").metadata()
        meta["kind"] = "article" if i % 3 == 0 else "case"
        if i % 4 == 0:
            meta["tags"] = ["产品线/打印机"] + (["问题类型/网络"] if i % 8 == 0 else [])
        metas.append(meta)
    cat = Catalogue(metas)
    for f in (Filters(), Filters(statuses=()), Filters(products=("rare",)), Filters(products=("none",)),
              Filters(kinds=("article",), statuses=("draft", "approved")), Filters(record_ids=("R3", "R50", "R999")),
              Filters(tags=("产品线/打印机",)), Filters(tags=("产品线/打印机", "问题类型/网络"), kinds=("case",)),
              Filters(tags=("nope",))):
        want = [f.matches(m) for m in metas]
        mask = cat.mask(f)
        assert mask.tolist() == want, f
        allowed = cat.allowed(mask)
        passing = {m["record_id"] for m, ok in zip(metas, want, strict=True) if ok}
        if len(passing) == 300:
            assert allowed.records is None and allowed.fraction == 1.0
        else:
            assert allowed.records == passing and allowed.fraction == len(passing) / 300, f
    rare = cat.allowed(cat.mask(Filters(products=("rare",))))
    assert rare.passes("R50#view.0#h") and not rare.passes("R0#view.0#h") and not rare.passes("R1#title.0#x")

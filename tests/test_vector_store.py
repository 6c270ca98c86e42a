"""ChromaVectorStore's filtered query: post-filtering an over-fetched list of neighbour ids (using the
keyword index's catalogue of which records pass) when the filter passes most records, Chroma's own
filter when it is selective; either way the exact filtered top-n; and a small collection searched exactly in memory."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from assistant.chunking import chunk_id, record_of
from assistant.index.filtered_copy import FilteredCopy
from assistant.index.filters import Catalogue, Filters
from assistant.index.vectors import ChromaVectorStore, chroma_client
from assistant.types import Chunk


def _chunk(i: int, product: str, status: str = "approved") -> Chunk:
    return Chunk(id=chunk_id(f"R{i}", "view", 0, "h"), record_id=f"R{i}", kind="case", section="view", ordinal=0, title="t",
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


def test_a_small_collection_is_searched_exactly_in_memory_and_follows_every_write(tmp_path: Path) -> None:
    """Up to ``exact_limit`` vectors, queries are answered from an in-memory copy (not one Chroma
    query), with the same filtered top-n; a write through the store, or another writer's (seen as a
    moved ``version``), is in the next answer."""
    rng = np.random.default_rng(2)
    n = 200
    vecs = rng.normal(size=(n, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    chunks = [_chunk(i, "rare" if i % 50 == 0 else "common", "draft" if i % 7 == 0 else "approved") for i in range(n)]
    client = chroma_client(tmp_path / "chroma")
    version = [0]
    store = ChromaVectorStore(client, "t", "test-16", "passage", exact_limit=n, version=lambda: version[0])
    store.PAGE = 64  # loaded in several reads
    store.upsert(chunks, vecs)
    q = rng.normal(size=16).astype(np.float32)
    sims = vecs @ (q / np.linalg.norm(q))

    def expected(f: Filters, k: int, present: set[int]) -> list[str]:
        ok = [i for i in np.argsort(-sims) if i in present and f.matches(chunks[i].metadata())]
        return [chunks[i].id for i in ok[:k]]

    calls = []
    real_query = store.col.query
    store.col.query = lambda *a, **kw: calls.append(1) or real_query(*a, **kw)
    everything = set(range(n))
    for f in (Filters(), Filters(products=("rare",)), Filters(statuses=("draft",)), Filters(statuses=()),
              Filters(products=("none",)), Filters(record_ids=("R3", "R14", "R150"))):
        got = store.query(q, 5, f)
        assert [cid for cid, _ in got] == expected(f, 5, everything), f
        assert np.allclose([s for _, s in got], [sims[int(record_of(cid)[1:])] for cid, _ in got], atol=1e-5)
    assert calls == []  # never through Chroma's query

    best = expected(Filters(), 1, everything)[0]
    b = int(record_of(best)[1:])
    store.delete([best])  # a write through this store: gone from the next answer
    assert [cid for cid, _ in store.query(q, 5, Filters())] == expected(Filters(), 5, everything - {b})

    other = ChromaVectorStore(client, "t", "test-16", "passage")  # another writer puts it back
    other.upsert([chunks[b]], vecs[[b]])
    assert best not in [cid for cid, _ in store.query(q, 5, Filters())]  # not seen until the version moves
    version[0] += 1
    assert [cid for cid, _ in store.query(q, 5, Filters())] == expected(Filters(), 5, everything)

    # a write that finishes while the copy is being read: that copy serves no further query
    real_get = store.col.get
    store.delete([best])

    def get_then_write(*args: object, **kw: object) -> object:
        got = real_get(*args, **kw)
        store.col.get = real_get
        store.upsert([chunks[b]], vecs[[b]])
        return got

    store.col.get = get_then_write
    store.PAGE = 1000  # one read
    assert best not in [cid for cid, _ in store.query(q, 5, Filters())]  # read before the write finished
    assert [cid for cid, _ in store.query(q, 5, Filters())] == expected(Filters(), 5, everything)

    other.upsert([_chunk(n + i, "common") for i in range(5)], np.tile(-q, (5, 1)))  # far from q
    version[0] += 1  # now above the limit: Chroma answers, with the same results
    got = store.query(q, 5, Filters())
    assert store.exact() is None and calls
    assert [cid for cid, _ in got] == expected(Filters(), 5, everything)


def test_a_selective_filter_is_searched_exactly_in_the_filtered_copy_and_follows_writes(tmp_path: Path) -> None:
    """Above ``exact_limit`` and within ``filter_limit``, a filter passing at most half the records is
    answered from the in-memory copy once it is loaded (no Chroma query), with the exact filtered top-n;
    until it is loaded, and after a write until it is loaded again, Chroma answers (the same top-n)."""
    rng = np.random.default_rng(3)
    n = 400
    vecs = rng.normal(size=(n, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    chunks = [_chunk(i, f"p{i % 5}") for i in range(n)]
    client = chroma_client(tmp_path / "chroma")
    store = ChromaVectorStore(client, "t", "test-16", "passage", exact_limit=100, filter_limit=1000)
    store.PAGE = 150  # loaded in several reads
    store.upsert(chunks, vecs)
    cat = Catalogue([c.metadata() for c in chunks])
    q = rng.normal(size=16).astype(np.float32)
    sims = vecs @ (q / np.linalg.norm(q))

    def expected(f: Filters, k: int, present: set[int]) -> list[str]:
        ok = [i for i in np.argsort(-sims) if i in present and f.matches(chunks[i].metadata())]
        return [chunks[i].id for i in ok[:k]]

    def ask(f: Filters, k: int = 8) -> list[tuple[str, float]]:
        return store.query(q, k, f, cat.allowed(cat.mask(f)))

    everything = set(range(n))
    first = Filters(products=("p1",))
    assert [cid for cid, _ in ask(first)] == expected(first, 8, everything)  # Chroma, loading starts
    assert store.wait_for_copy(60)
    calls = []
    real_query = store.col.query
    store.col.query = lambda *a, **kw: calls.append(1) or real_query(*a, **kw)
    for f in (first, Filters(products=("p2", "p3")), Filters(record_ids=("R3", "R14", "R150")), Filters(products=("none",))):
        got = ask(f)
        assert [cid for cid, _ in got] == expected(f, 8, everything), f
        assert np.allclose([s for _, s in got], [sims[int(record_of(cid)[1:])] for cid, _ in got], atol=1e-5)
    assert calls == []
    wide = Filters(products=("p0", "p1", "p2", "p3"))  # passes 80%: Chroma's neighbours, post-filtered
    assert [cid for cid, _ in ask(wide)] == expected(wide, 8, everything) and calls

    best = expected(first, 1, everything)[0]
    store.delete([best])  # a write: the copy is stale, Chroma answers until it is loaded again
    gone = everything - {int(record_of(best)[1:])}
    calls.clear()
    assert [cid for cid, _ in ask(first)] == expected(first, 8, gone) and calls
    assert not store.wait_for_copy(60)  # loaded moments ago: not again before RELOAD_PAUSE
    store.RELOAD_PAUSE = 0
    assert store.wait_for_copy(60)
    calls.clear()
    assert [cid for cid, _ in ask(first)] == expected(first, 8, gone) and calls == []

    small = ChromaVectorStore(client, "t", "test-16", "passage", filter_limit=n - 2)  # too large for a copy
    assert not small.wait_for_copy(60)
    exact = ChromaVectorStore(client, "t", "test-16", "passage", exact_limit=n, filter_limit=1000)
    assert not exact.wait_for_copy(60)  # the exact copy answers everything
    assert [cid for cid, _ in small.query(q, 8, first, cat.allowed(cat.mask(first)))] == expected(first, 8, gone)


def test_the_filtered_copy_keeps_at_most_its_own_rows_for_all_filters() -> None:
    """Each filter's rows are gathered once; past as many rows as the copy holds, the least recently
    used filter's are dropped."""
    rng = np.random.default_rng(4)
    chunks = [_chunk(i, f"p{i % 4}") for i in range(100)]
    copy = FilteredCopy([c.id for c in chunks], rng.normal(size=(100, 8)))
    cat = Catalogue([c.metadata() for c in chunks])
    filters = [Filters(products=(f"p{i}", f"p{(i + 1) % 4}")) for i in range(4)]  # 50 rows each
    for f in filters:
        rows, matrix = copy.passing(f, cat.allowed(cat.mask(f)))
        assert len(rows) == 50 and matrix.dtype == np.float32
        assert {record_of(copy.ids[r]) for r in rows} == {c.record_id for c in chunks if f.matches(c.metadata())}
    assert list(copy._by_filter) == filters[2:]


def test_loading_reads_every_page_into_one_array_even_when_writes_add_vectors_meanwhile(tmp_path: Path) -> None:
    """``_pages`` sizes its array by the collection's count; vectors written after that count was
    taken (here: a count that says fewer) still arrive, in Chroma's order, each its own row."""
    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(35, 8)).astype(np.float32)
    chunks = [_chunk(i, f"p{i % 3}") for i in range(35)]
    store = ChromaVectorStore(chroma_client(tmp_path / "chroma"), "t", "test-8", "passage")
    store.upsert(chunks, vecs)
    store.PAGE = 10
    by_id = {c.id: v for c, v in zip(chunks, vecs, strict=True)}
    for counted in (35, 12, 0):
        store.count = lambda counted=counted: counted  # type: ignore[method-assign]
        ids, _, got = store._pages(["embeddings"], 1000)
        assert sorted(ids) == sorted(by_id) and got.dtype == np.float32
        assert np.allclose(got, np.stack([by_id[i] for i in ids]), atol=1e-6)  # as Chroma stored them

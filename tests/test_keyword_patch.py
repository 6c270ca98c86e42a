"""The keyword index built with numpy equals bm25s's own build, and a write's few chunks patch the
last build into the same index that a rebuild of the whole chunk set gives."""

from __future__ import annotations

import random
from pathlib import Path

import bm25s
import numpy as np
import pytest

from assistant.embeddings import HashEmbedder
from assistant.index import keyword_manifest
from assistant.index.bm25_build import Postings, _stable_order, save, scores
from assistant.index.filters import Allowed, Catalogue, Filters
from assistant.index.keywords import BM25Index
from assistant.library import Library
from assistant.settings import Settings
from assistant.text import keyword_tokens
from assistant.types import Chunk
from ingestion.pipeline import Ingestor
from tests.conftest import assert_indexes_match_store, case, write_jsonl

WORDS = [f"w{i}" for i in range(60)] + ["打印机", "路由器", "发票", "退款", "网络"]


def _docs(rng: random.Random, n: int) -> list[list[str]]:
    # short and long documents, repeated tokens, a few tokens shared by nearly all
    return [[rng.choice(WORDS[: rng.randint(3, len(WORDS))]) for _ in range(rng.randint(1, 30))] for _ in range(n)]


def _dense(sc: dict, vocab: list[str], order: list[str]) -> np.ndarray:
    """The score matrix as documents × ``order``'s tokens."""
    import scipy.sparse as sp

    m = sp.csc_matrix((sc["data"], sc["indices"], sc["indptr"]), shape=(sc["num_docs"], len(vocab))).toarray()
    col = {tok: i for i, tok in enumerate(vocab)}
    return np.stack([m[:, col[t]] for t in order], axis=1)


def test_the_numpy_build_equals_bm25s_to_the_bit() -> None:
    docs = _docs(random.Random(7), 400)
    ref = bm25s.BM25()
    ref.index(docs, show_progress=False)
    ref_vocab = sorted(ref.vocab_dict, key=ref.vocab_dict.__getitem__)[: len(ref.scores["indptr"]) - 1]
    p = Postings.encode(docs)
    order = sorted(p.vocab)
    assert sorted(ref_vocab) == order
    assert np.array_equal(_dense(scores(p), p.vocab, order), _dense(ref.scores, ref_vocab, order))


def test_the_score_arrays_are_scipys_and_bm25s_loads_their_files(tmp_path: Path) -> None:
    """Built and written without scipy or bm25s, the arrays are the ones scipy's csc_matrix makes
    (dtypes included), and bm25s loads the files into the index its own build gives."""
    import scipy.sparse as sp

    docs = _docs(random.Random(3), 250)
    p = Postings.encode(docs)
    sc = scores(p)
    shuffled = np.random.default_rng(0).permutation(len(sc["data"]))  # scipy puts the entries in its order
    m = sp.csc_matrix((sc["data"][shuffled], (p.docs[shuffled], p.tokens()[shuffled])), shape=(p.n_docs, len(p.vocab)),
                      dtype=np.float32)
    for name in ("data", "indices", "indptr"):
        assert sc[name].dtype == getattr(m, name).dtype and np.array_equal(sc[name], getattr(m, name)), name

    save(tmp_path / "bm25", sc, p.vocab)
    got = bm25s.BM25.load(str(tmp_path / "bm25"))
    ref = bm25s.BM25()
    ref.index(docs, show_progress=False)
    for query in (["w1"], ["打印机", "w7", "w7"], ["发票", "退款", "w50"]):
        assert np.array_equal(got.get_scores(query), ref.get_scores(query)), query


def _same(a: Postings, b: Postings) -> bool:
    return (a.vocab == b.vocab and a.n_docs == b.n_docs and all(
        x.dtype == y.dtype and np.array_equal(x, y) for x, y in ((a.colptr, b.colptr), (a.docs, b.docs),
                                                                  (a.counts, b.counts))))


def test_patched_postings_equal_the_encoding_of_the_patched_documents() -> None:
    """Whatever is dropped, added and reordered (ids sorted), a patch gives the arrays that encoding
    the resulting documents from nothing gives, so the scores are the same to the bit."""
    rng = random.Random(21)
    for trial in range(30):
        docs = _docs(rng, rng.randint(1, 60))
        ids = sorted(f"d{rng.randrange(10**6):06d}-{i}" for i in range(len(docs)))
        keep = np.asarray([rng.random() < 0.8 for _ in docs], dtype=bool)
        added = _docs(rng, rng.randint(0, 5)) + ([["新词", "w1"]] if trial % 3 == 0 else [])
        new_ids = [f"d{rng.randrange(10**6):06d}-n{i}" for i in range(len(added))]
        all_ids = [i for i, k in zip(ids, keep.tolist(), strict=True) if k] + new_ids
        if not all_ids:
            continue
        order = np.asarray(sorted(range(len(all_ids)), key=all_ids.__getitem__), dtype=np.int64)
        place = np.empty_like(order)
        place[order] = np.arange(len(order))
        before = Postings.encode(docs)
        got = before.patch(keep, added, place)
        final = [d for d, k in zip(docs, keep.tolist(), strict=True) if k] + added
        # tokens keep their ids when they stay (and new ones follow): the vocabulary in first-seen order
        # of the old documents, then of the added ones
        vocab = [t for t in before.vocab if any(t in d for d in final)]
        vocab += [t for t in dict.fromkeys(t for d in added for t in d) if t not in vocab]
        want = Postings.encode([final[i] for i in order.tolist()], vocab)
        assert _same(got, want), trial
        assert all(np.array_equal(scores(got)[k], scores(want)[k]) for k in ("data", "indices", "indptr"))


def test_postings_kept_in_document_order_by_an_older_build_load_by_token(tmp_path: Path) -> None:
    docs = _docs(random.Random(4), 80)
    p = Postings.encode(docs)
    save(tmp_path, scores(p), p.vocab)
    p.save(tmp_path)
    assert _same(Postings.load(tmp_path), p)
    # what builds before 2026-12-08 kept: each document's distinct tokens and counts, in document order
    sizes = [len(set(d)) for d in docs]
    tokens = np.concatenate([np.asarray([p.vocab.index(t) for t in dict.fromkeys(d)], dtype=np.int32) for d in docs])
    counts = np.concatenate([np.asarray([d.count(t) for t in dict.fromkeys(d)], dtype=np.int32) for d in docs])
    np.savez(tmp_path / "postings.npz", indptr=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
             tokens=tokens, counts=counts)
    assert _same(Postings.load(tmp_path), p)


def test_the_radix_order_is_numpys_stable_sort() -> None:
    rng = np.random.default_rng(1)
    for high in (300, 70_000, 2**31 - 1):  # one pass of 16 bits, two, and the largest token id
        tokens = rng.integers(0, high, 5000, dtype=np.int32)
        tokens[::7] = tokens[0]  # ties keep their order
        assert np.array_equal(_stable_order(tokens), np.argsort(tokens, kind="stable")), high


def test_the_chunk_columns_give_back_each_chunks_metadata(tmp_path: Path) -> None:
    metas = [{"record_id": f"C-{i % 7}", "kind": "case", "section": ("view", "problem")[i % 2],
              "status": "approved", "product": "P" if i % 3 else "", **({"tags": [f"t/{i % 4}", "x/y"]} if i % 5 else {})}
             for i in range(40)]
    cols = keyword_manifest.ChunkColumns.encode(metas[:30])
    assert cols.metas() == metas[:30]
    rows = np.asarray([29, 3, 0, 11], dtype=np.int64)
    picked = cols.select(rows).extend(metas[30:]).compact()
    assert picked.metas() == [metas[i] for i in rows.tolist()] + metas[30:]
    assert len(picked.values["record_id"]) == len({m["record_id"] for m in picked.metas()})  # unused values gone
    picked.save(tmp_path, 3, [f"id{i}" for i in range(picked.size)])
    generation, ids, back = keyword_manifest.load(tmp_path)
    assert (generation, ids, back.metas()) == (3, [f"id{i}" for i in range(picked.size)], picked.metas())


def test_the_catalogue_from_columns_filters_as_the_one_from_dicts() -> None:
    """The keyword index makes its filter catalogue from the build's columns; it must pass and allow
    what the catalogue made from each chunk's metadata dict does, also when a patch left a record id
    in a value table that no chunk has any more (uncompacted columns)."""
    metas = [{"record_id": f"C-{i % 9}", "kind": ("case", "article")[i % 4 == 0], "section": "view",
              "status": ("approved", "draft", "published")[i % 3], "product": ("P", "Q", "")[i % 5 % 3],
              **({"tags": [f"t/{i % 4}", "x/y"]} if i % 5 else {})} for i in range(60)]
    full = keyword_manifest.ChunkColumns.encode(metas)
    keep = np.asarray([i for i, m in enumerate(metas) if m["record_id"] != "C-4"], dtype=np.int64)
    for cols in (full, full.select(keep)):  # the second keeps C-4 in its table, on no chunk
        dicts = Catalogue(cols.metas())
        columns = Catalogue.from_columns(cols.values, cols.codes, cols.tag_values, cols.tag_indptr, cols.tag_codes)
        for f in (Filters(), Filters(statuses=()), Filters(products=("P",)), Filters(kinds=("article",)),
                  Filters(tags=("t/1",)), Filters(tags=("t/1", "x/y"), products=("Q", "")), Filters(tags=("none/",)),
                  Filters(record_ids=("C-4", "C-2"), statuses=())):
            mask = dicts.mask(f)
            assert np.array_equal(columns.mask(f), mask), f
            assert columns.allowed(mask) == dicts.allowed(mask), f
    assert Catalogue.from_columns(full.values, full.codes, full.tag_values, full.tag_indptr,
                                  full.tag_codes).allowed(np.ones(60, dtype=bool)) == Allowed(None, 1.0)


def test_a_build_with_the_older_json_manifest_loads_and_patches(tmp_path: Path) -> None:
    """A build written before the columns (a metadata dict per chunk in manifest.json) still loads,
    searches, filters and patches."""
    import json

    items = [(_chunk(f"C-{i:03d}#problem.0#h"), toks) for i, toks in enumerate(_docs(random.Random(5), 40))]
    idx = BM25Index(tmp_path / "kw")
    idx.rebuild(items, generation=1)
    build = tmp_path / "kw" / idx._loaded_from
    (build / "columns.npz").unlink()
    (build / "manifest.json").write_text(json.dumps(
        {"generation": 1, "ids": [c.id for c, _ in items], "meta": [c.metadata() for c, _ in items]}))
    old = BM25Index(tmp_path / "kw")
    f = Filters(statuses=(), products=("P",))
    assert old.generation == 1 and old.query(["w1"], 5, f) == idx.query(["w1"], 5, f) != []
    assert old.patch([items[0][0].id], [], generation=2)
    assert BM25Index(tmp_path / "kw").ids() == {c.id for c, _ in items[1:]}


def _chunk(cid: str) -> Chunk:
    return Chunk(id=cid, record_id=cid.split("#")[0], kind="case", section="problem", ordinal=0, title="t",
                 text="x", index_text="x", space="", status="approved", product="P" if cid < "C-2" else "Q")


def test_a_patched_build_answers_as_a_rebuilt_one(tmp_path: Path) -> None:
    rng = random.Random(11)
    items = [(_chunk(f"C-{i:03d}#problem.0#h"), toks) for i, toks in enumerate(_docs(rng, 300))]
    patched = BM25Index(tmp_path / "patched")
    patched.rebuild(items, generation=1)
    # drop 5 chunks, change 3 (a new id: content-addressed), add 4; one token occurs only in an added chunk
    gone = {items[i][0].id for i in (0, 17, 150, 151, 299)}
    changed = [(_chunk(items[i][0].id.replace("#h", "#h2")), ["退款", "新词", "w1"]) for i in (40, 41, 42)]
    dropped = gone | {items[i][0].id for i in (40, 41, 42)}
    added = changed + [(_chunk(f"C-9{i:02d}#problem.0#h"), toks) for i, toks in enumerate(_docs(rng, 4))]
    assert patched.patch(dropped, added, generation=2)

    rebuilt = BM25Index(tmp_path / "rebuilt")
    rebuilt.rebuild([it for it in items if it[0].id not in dropped] + added, generation=2)
    fresh = BM25Index(tmp_path / "patched")  # what another process loads from disk
    for idx in (patched, fresh):
        assert idx.generation == 2 and idx.ids() == rebuilt.ids()
        for query in (["退款"], ["新词", "w1"], ["w3", "w3", "打印机"], ["w59"], ["absent"]):
            for f in (Filters(statuses=()), Filters(statuses=(), products=("Q",))):
                assert idx.query(query, 20, f) == rebuilt.query(query, 20, f), (query, f)
        assert idx.idf("新词") == rebuilt.idf("新词") and idx.idf("w2") == rebuilt.idf("w2")


def test_a_patch_that_keeps_every_word_copies_the_vocabulary_and_answers_as_a_rebuild(tmp_path: Path) -> None:
    import json

    items = [(_chunk(f"C-{i:03d}#problem.0#h"), toks) for i, toks in enumerate(_docs(random.Random(8), 100))]
    patched = BM25Index(tmp_path / "patched")
    patched.rebuild(items, generation=1)
    changed = (_chunk("C-050#problem.0#h2"), ["w1", "w2", "打印机"])  # words every build already holds
    assert patched.patch([items[50][0].id], [changed], generation=2)
    rebuilt = BM25Index(tmp_path / "rebuilt")
    rebuilt.rebuild([it for it in items if it[0].id != items[50][0].id] + [changed], generation=2)
    vocab = [json.loads((i.folder / i._loaded_from / "bm25" / "vocab.index.json").read_text(encoding="utf-8"))
             for i in (patched, rebuilt)]
    assert vocab[0] == vocab[1]
    fresh = BM25Index(tmp_path / "patched")
    for query in (["w1"], ["打印机", "w2"], ["w40", "w3"]):
        assert fresh.query(query, 10, Filters(statuses=())) == rebuilt.query(query, 10, Filters(statuses=()))


def test_a_build_without_postings_is_not_patched(tmp_path: Path) -> None:
    idx = BM25Index(tmp_path / "kw")
    assert not idx.patch([], [(_chunk("C-1#problem.0#h"), ["a"])], generation=1)  # nothing built yet
    idx.rebuild([(_chunk("C-1#problem.0#h"), ["a"])], generation=1)
    (tmp_path / "kw" / idx._loaded_from / "bm25" / "postings.npz").unlink()  # a build from before postings
    assert not BM25Index(tmp_path / "kw").patch([], [(_chunk("C-2#problem.0#h"), ["b"])], generation=2)


def _records(changed: dict[int, dict[str, str]]) -> list[dict]:
    return [case(f"C-{i}", f"打印机故障{i}", **changed.get(i, {})) for i in range(30)]


def test_one_changed_case_patches_the_keyword_index_and_opens_no_vector_space(
        tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    p = write_jsonl(tmp_path / "c.jsonl", _records({}))
    lib = Library(settings, embedder=HashEmbedder())
    Ingestor(lib, record_sources=True).ingest_paths([p])
    lib.close()

    write_jsonl(p, _records({4: {"solution": "先检查网线，再重启路由器"}}))
    lib = Library(settings, embedder=HashEmbedder())
    full_reads = []
    real = lib.store.chunk_tokens
    monkeypatch.setattr(lib.store, "chunk_tokens", lambda tenant, ids=None: (
        full_reads.append(ids is None), real(tenant, ids))[1])
    try:
        one = Ingestor(lib, record_sources=True).ingest_paths([p])
        assert one.updated == ["C-4"] and one.chunks_written == 1
        assert full_reads == [False]  # only the new chunk's tokens were read back
        assert "spaces" not in lib.__dict__  # a solution is in no vector space: no model, no Chroma
        assert_indexes_match_store(lib)
        top = lib.keywords.query(keyword_tokens("先检查网线"), 1, Filters(statuses=()))
        assert top and top[0][0].startswith("C-4#solution")
    finally:
        lib.close()

    # the same file imported into a new library from nothing ranks every question the same way
    other = Library(settings.model_copy(update={"home": tmp_path / "other"}), embedder=HashEmbedder())
    try:
        Ingestor(other).ingest_paths([p])
        lib = Library(settings, embedder=HashEmbedder())
        for q in ("先检查网线", "打印机故障7", "重启设备", "客户很着急"):
            assert lib.keywords.query(keyword_tokens(q), 10, Filters(statuses=())) == \
                other.keywords.query(keyword_tokens(q), 10, Filters(statuses=())), q
        lib.close()
    finally:
        other.close()


def test_a_keyword_index_that_missed_a_write_is_rebuilt_not_patched(tmp_path: Path, settings: Settings) -> None:
    lib = Library(settings, embedder=HashEmbedder())
    try:
        ing = Ingestor(lib)
        ing.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _records({}))])
        # another host's write lands in the shared store; this host's keyword index never saw it
        host2 = Library(settings.model_copy(update={"home": tmp_path / "host2"}), embedder=HashEmbedder(),
                        store=lib.store)
        Ingestor(host2).ingest_paths([write_jsonl(tmp_path / "b.jsonl", [case("C-99", "扫码枪无法识别条码")])])
        host2.close()
        lib.keywords.generation = lib.store.generation(lib.tenant)  # as if it believed itself current
        # a later write here must not patch a build that lacks C-99's chunks
        ing.ingest_paths([write_jsonl(tmp_path / "a.jsonl", _records({2: {"outcome": "已解决"}}))])
        assert lib.keywords.ids() == {c.id for c in lib.store.chunks(lib.tenant, keyword=True)}
        top = lib.keywords.query(keyword_tokens("扫码枪无法识别条码"), 1, Filters(statuses=()))
        assert top and top[0][0].startswith("C-99#")
    finally:
        lib.close()


def test_a_reader_whose_build_was_replaced_reads_the_new_one(tmp_path: Path) -> None:
    """The matrix is read at its first query: if another process published a build and removed this
    one's folder in between, the reader moves to the published build instead of failing."""
    reader = BM25Index(tmp_path / "kw")
    writer = BM25Index(tmp_path / "kw")
    writer.rebuild([(_chunk("C-1#problem.0#h"), ["打印机"])], generation=1)
    reader.refresh()  # the manifest of generation 1 loaded, its matrix not yet
    writer.patch([], [(_chunk("C-2#problem.0#h"), ["打印机", "网络"])], generation=2)
    hits = reader.query(["网络"], 5, Filters(statuses=()))
    assert [h for h, _ in hits] == ["C-2#problem.0#h"] and reader.generation == 2

"""bm25s's score matrix built with numpy, and patched.

bm25s builds its matrix with a Python loop per document (16 s of profile at 50,000 chunks). Here the
same matrix, to the bit, comes from whole-array operations over the corpus kept as term counts
(``Postings``), laid out as the matrix is (by token), so that scoring needs no sort. A build keeps its
counts beside the matrix, so the next build after a small write drops and adds a few documents and
recomputes the scores, without reading every chunk's tokens back from the store.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

# bm25s's defaults (method "lucene"), which the index has always used
K1 = 1.5
B = 0.75


@dataclass
class Postings:
    """Each token's documents and how often it occurs in each: token ``t`` (an id into ``vocab``) occurs
    in documents ``docs[colptr[t]:colptr[t + 1]]`` (ascending) ``counts[...]`` times. This is the layout
    of bm25s's score matrix (by column), so that scoring needs no sort, and a patch keeps it with a
    mask and a few insertions. There are ``n_docs`` documents; every token of ``vocab`` occurs in one."""

    vocab: list[str]
    n_docs: int
    colptr: np.ndarray  # int64, one more than the tokens
    docs: np.ndarray  # int32
    counts: np.ndarray  # int32
    # a file holding this vocabulary as ``save`` writes it (the build it was loaded from), else None
    vocab_file: Path | None = None

    @property
    def lengths(self) -> np.ndarray:
        """Each document's number of tokens (int64)."""
        return np.bincount(self.docs, weights=self.counts, minlength=self.n_docs).astype(np.int64)

    def tokens(self) -> np.ndarray:
        """Each entry's token (int64)."""
        return np.repeat(np.arange(len(self.vocab), dtype=np.int64), np.diff(self.colptr))

    @classmethod
    def encode(cls, docs: Sequence[Sequence[str]], vocab: Sequence[str] = ()) -> Postings:
        """``docs`` (each a non-empty token list), with token ids continuing ``vocab``."""
        ids = {tok: i for i, tok in enumerate(vocab)}
        toks: list[int] = []
        counts: list[int] = []
        sizes = []
        for doc in docs:
            c = Counter(doc)
            toks.extend(ids.setdefault(tok, len(ids)) for tok in c)
            counts.extend(c.values())
            sizes.append(len(c))
        tokens = np.asarray(toks, dtype=np.int32)
        return cls._by_token(list(ids), len(docs), tokens, np.repeat(np.arange(len(docs), dtype=np.int32), sizes),
                             np.asarray(counts, dtype=np.int32))

    @classmethod
    def _by_token(cls, vocab: list[str], n_docs: int, tokens: np.ndarray, docs: np.ndarray,
                  counts: np.ndarray) -> Postings:
        """From entries in document order (each document's tokens distinct)."""
        order = _stable_order(tokens)
        colptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(tokens, minlength=len(vocab)), out=colptr[1:])
        return cls(vocab, n_docs, colptr, docs[order], counts[order])

    def save(self, folder: Path) -> None:
        """The counts, beside bm25s's files (``save``), whose indices and indptr are ``docs`` and ``colptr``."""
        np.savez(folder / "postings.npz", counts=self.counts, n_docs=np.int64(self.n_docs))

    @classmethod
    def load(cls, folder: Path) -> Postings | None:
        """The postings saved in ``folder`` with bm25s's files; None for a build without them."""
        try:
            with np.load(folder / "postings.npz") as f:
                saved = {name: f[name] for name in f.files}
            vocab: dict[str, int] = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
            if "tokens" in saved:  # in document order, as builds kept them until 2026-12-08
                indptr, tokens = saved["indptr"], saved["tokens"]
                n_vocab = int(tokens.max()) + 1 if len(tokens) else 0
            else:
                colptr = np.load(folder / "indptr.csc.index.npy").astype(np.int64)
                n_vocab = len(colptr) - 1
                docs = np.load(folder / "indices.csc.index.npy").astype(np.int32)
                n_docs = int(saved["n_docs"])
        except (FileNotFoundError, KeyError):
            return None
        words = [""] * n_vocab
        for tok, i in vocab.items():
            if i < n_vocab:
                words[i] = tok
        if "tokens" in saved:
            docs = np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))
            return cls._by_token(words, len(indptr) - 1, tokens, docs, saved["counts"])
        same = len(vocab) == n_vocab  # the file maps exactly these words to their ids
        return cls(words, n_docs, colptr, docs, saved["counts"],
                   folder / "vocab.index.json" if same else None)

    def patch(self, keep: np.ndarray, added: Sequence[Sequence[str]], place: np.ndarray) -> Postings:
        """These postings with only the documents where ``keep`` is true, then ``added``, each document
        moved to its ``place`` (kept documents first, in order; their places must ascend, as they do when
        documents are ordered by id); tokens no document holds any more leave the vocabulary. Equal,
        array for array, to ``encode`` of the resulting documents in place order."""
        n_kept, n, n_old = int(keep.sum()), len(place), len(self.vocab)
        new_doc = np.full(self.n_docs, -1, dtype=np.int32)
        new_doc[keep] = place[:n_kept]
        docs, counts, colptr = new_doc[self.docs], self.counts, self.colptr
        drop = np.flatnonzero(docs < 0)
        if len(drop):  # each column loses its dropped documents' entries
            docs, counts = np.delete(docs, drop), np.delete(counts, drop)
            lost = np.bincount(np.searchsorted(colptr, drop, side="right") - 1, minlength=n_old)
            colptr = colptr - np.concatenate([[0], np.cumsum(lost)])
        more = Postings.encode(added, self.vocab)
        m_tokens, m_docs = more.tokens(), place[n_kept:][more.docs]
        o = np.lexsort((m_docs, m_tokens))  # by token, then document
        m_tokens, m_docs, m_counts = m_tokens[o], m_docs[o], more.counts[o]
        # each added entry's place: in its token's column, documents ascending; a new token's after all
        at = np.full(len(m_tokens), len(docs), dtype=np.int64)
        for i, (t, d) in enumerate(zip(m_tokens.tolist(), m_docs.tolist(), strict=True)):
            if t < n_old:
                lo, hi = int(colptr[t]), int(colptr[t + 1])
                at[i] = lo + int(np.searchsorted(docs[lo:hi], d))
        docs, counts = np.insert(docs, at, m_docs.astype(np.int32)), np.insert(counts, at, m_counts)
        vocab = more.vocab
        df = np.diff(colptr)
        df = np.concatenate([df, np.zeros(len(vocab) - n_old, dtype=df.dtype)]) + np.bincount(m_tokens,
                                                                                               minlength=len(vocab))
        used = df > 0
        if not used.all():
            vocab = [tok for tok, u in zip(vocab, used.tolist(), strict=True) if u]
            df = df[used]
        colptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(df, out=colptr[1:])
        return Postings(vocab, n, colptr, docs, counts, self.vocab_file if vocab == self.vocab else None)


def scores(p: Postings) -> dict[str, Any]:
    """bm25s's ``scores`` (``data``, ``indices``, ``indptr``, ``num_docs``) for the documents of ``p``,
    equal to what ``bm25s.BM25().index`` computes: Lucene's BM25, float32, compressed by column (token),
    each column's documents ascending, as scipy's csc_matrix makes them (without importing scipy.sparse,
    0.2 s, on a write)."""
    n_docs, n_vocab = p.n_docs, len(p.vocab)
    lengths = p.lengths
    avg_len = lengths.mean() if n_docs else 0.0
    df = np.diff(p.colptr)
    # math.log, as bm25s computes it, once per distinct document frequency
    distinct, which = np.unique(df, return_inverse=True)
    idf = np.asarray([math.log(1 + (n_docs - d + 0.5) / (d + 0.5)) if d else 0.0 for d in distinct.tolist()],
                     dtype=np.float64)[which].astype(np.float32)
    tf = p.counts.astype(np.float32)
    norm = K1 * ((1 - B) + B * lengths / avg_len) if n_docs else lengths.astype(np.float64)
    data = (np.repeat(idf, df) * (tf / (norm[p.docs] + tf))).astype(np.float32)
    index = np.int32 if max(len(data), n_docs, n_vocab) < 2**31 else np.int64
    return {"data": data, "indices": p.docs.astype(index), "indptr": p.colptr.astype(index), "num_docs": n_docs}


def _stable_order(tokens: np.ndarray) -> np.ndarray:
    """``np.argsort(tokens, kind="stable")`` for non-negative int32 tokens, as one or two passes of
    numpy's radix sort over 16 bits (a third of the time of its 32-bit merge sort at 4.6M entries)."""
    order = np.argsort((tokens & 0xFFFF).astype(np.uint16), kind="stable")
    high = (tokens >> 16).astype(np.uint16)
    if high.any():
        order = order[np.argsort(high[order], kind="stable")]
    return order


def save(folder: Path, sc: dict[str, Any], vocab: Sequence[str], vocab_file: Path | None = None) -> None:
    """The files ``bm25s.BM25.save`` writes for an index with these scores and ``vocab`` (token ids in
    order), so that ``bm25s.BM25.load`` reads them, written without importing bm25s (0.25 s).
    ``vocab_file``: a file that already holds ``vocab`` so (a patch's that kept every word), copied."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("data", "indices", "indptr"):
        np.save(folder / f"{name}.csc.index.npy", sc[name], allow_pickle=False)
    try:
        if vocab_file is None:
            raise FileNotFoundError
        shutil.copyfile(vocab_file, folder / "vocab.index.json")
    except OSError:
        (folder / "vocab.index.json").write_text(
            json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False), encoding="utf-8")
    params = {"k1": K1, "b": B, "delta": 0.5, "method": "lucene", "idf_method": "lucene", "dtype": "float32",
              "int_dtype": "int32", "num_docs": sc["num_docs"], "version": _bm25s_version(), "backend": "numpy"}
    (folder / "params.index.json").write_text(json.dumps(params, indent=4))


def _bm25s_version() -> str:
    try:
        return metadata.version("bm25s")
    except metadata.PackageNotFoundError:  # pragma: no cover - bm25s is a dependency
        return ""

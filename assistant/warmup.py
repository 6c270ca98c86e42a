"""What a worker loads before it serves, side by side (``warm``): Chroma's vector indexes in a thread
(Chroma reads its HNSW files in native code that releases the GIL; 2.4 s of a first search at
620,000 chunks), while the calling thread loads the query embedding models, jieba's dictionary and the
keyword index; then the spaces and the retriever. The API's warm-up and the scale bench's probe both
start a worker this way (docs/measurements.md, "A million chunks").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .index.filters import Filters
from .index.vectors import chroma_client, collection_name, preload
from .library import Library
from .settings import Settings
from .text import keyword_tokens
from .types import PASSAGE_SPACE, QUESTION_SPACE

T = TypeVar("T")
L = TypeVar("L", bound=Library)

log = logging.getLogger(__name__)


@dataclass
class Part:
    """One part of the warm-up, timed in the thread that ran it: wall-clock seconds from the warm-up's
    start to the part's start and end, and that thread's processor seconds (Chroma's native loading
    runs in threads of its own, so the process's processor time is the one to add up)."""

    start_s: float
    end_s: float
    thread_cpu_s: float


@dataclass
class Warmed:
    parts: dict[str, Part] = field(default_factory=dict)

    def run(self, name: str, t0: float, work: Callable[[], T]) -> T:
        start, cpu = time.perf_counter(), time.thread_time()
        got = work()
        self.parts[name] = Part(round(start - t0, 3), round(time.perf_counter() - t0, 3),
                                round(time.thread_time() - cpu, 3))
        return got


def is_remote(lib: Library) -> bool:
    """An embedder behind an endpoint (``openai:``): warming up never calls it, since an endpoint that
    is down would hold the start for its timeouts and retries."""
    return any(emb.model_id.startswith("openai:") for emb in lib.embedders.values())


def _vectors(settings: Settings, tenant: str, client: Any) -> None:
    """Chroma loads the tenant's vector indexes (``client`` shares its system, and so the loaded
    indexes, with the library's own client)."""
    for space in (QUESTION_SPACE, *([PASSAGE_SPACE] if settings.passage_embedder else [])):
        try:
            preload(client, collection_name(tenant, space))
        except Exception as e:  # the first search loads it, or says what is wrong
            log.warning("loading the %s space's vector index failed (%s); the first search loads it", space, e)


def _models(open_library: Callable[[], L], also: Sequence[Callable[[], object]]) -> L:
    for load in also:
        load()
    lib = open_library()
    for emb in lib.embedders.values():
        if not emb.model_id.startswith("openai:"):
            emb.embed_query("预热")
    return lib


def _keywords(lib: Library) -> None:
    keyword_tokens("预热")  # jieba's dictionary
    kw = lib.keywords  # the manifest: every chunk's id and filter columns
    kw.query(["预热"], 1, Filters(statuses=()))  # the score matrix
    kw.allowed(Filters())  # the filter catalogue and the default filter's records


def _spaces(lib: Library) -> None:
    for space in lib.spaces.values():
        exact = getattr(space.vectors, "exact", None)
        if exact is not None:
            exact()  # a small collection's in-memory copy
    _ = lib.retriever


def warm(settings: Settings, tenant: str, open_library: Callable[[], L], *,
         also: Sequence[Callable[[], object]] = ()) -> tuple[L, Warmed]:
    """Open tenant ``tenant``'s library (``open_library``, which loads the embedding models) and load
    what its first search needs, Chroma's indexes in a thread beside the rest. ``also``: more loads
    before the library is opened (in the calling thread). A part's error is raised once the vector
    indexes are loaded."""
    t0 = time.perf_counter()
    out = Warmed()
    # first, alone: chromadb's import and client are Python work that the index loads wait for, and at
    # a million chunks those loads are the longest part
    client = out.run("vector store opened", t0, lambda: chroma_client(settings.chroma_dir, settings.chroma_url))
    # one thread loads them one after the other: two loads side by side finished together, no sooner
    # (Chroma serialises them), and the question space's was held back by the passage space's
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="casepilot-warm") as pool:
        loads = [pool.submit(out.run, "vector indexes", t0, lambda: _vectors(settings, tenant, client))]
        try:
            lib = out.run("query models", t0, lambda: _models(open_library, also))
            out.run("keyword index", t0, lambda: _keywords(lib))
        finally:
            for load in loads:
                load.result()
    out.run("spaces and retriever", t0, lambda: _spaces(lib))
    return lib, out

"""``casepilot reindex`` (rebuild both indexes from the store) and ``casepilot status`` (what the
library holds)."""

from __future__ import annotations

import argparse
from typing import Any

from assistant.library import Library

from .common import emit, open_library


def cmd_reindex(args: argparse.Namespace) -> int:
    # the import pipeline and the progress bars: 0.1 s at start-up that status need not pay (api/cli/ingest.py)
    from ingestion.pipeline import Ingestor

    from .progress import progress_factory

    lib = open_library(args)
    for tenant in lib.store.tenants() if args.all_tenants else [lib.tenant]:
        one = lib if tenant == lib.tenant else Library(lib.settings, tenant, store=lib.store)
        # the guard against a different model does not apply: rebuilding is how the model is changed
        with one.write_lock():
            report = Ingestor(one, progress=progress_factory(not args.json)).reindex()
        if args.json:
            emit({"tenant": tenant, **report})
        else:
            print(f"{tenant}: reindexed {report['records']} records, {report['chunks']} chunks "
                  f"({report['vectors']} vectors, {report['embedded']} newly embedded) in {report['seconds']:.1f} s")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    lib = open_library(args)
    recs = lib.store.records(lib.tenant)
    by_kind: dict[str, dict[str, int]] = {}
    for r in recs:
        by_kind.setdefault(r.kind, {}).setdefault(r.status, 0)
        by_kind[r.kind][r.status] += 1
    chunks = lib.store.chunks(lib.tenant)
    # opening the spaces refuses an index built with another model than the one configured
    vector_chunks = {name: sum(c.space == name for c in chunks) for name in lib.spaces}
    embedders = {name: s.embedder.model_id for name, s in lib.spaces.items()}
    info = {
        "home": str(lib.settings.home.resolve()), "tenant": lib.tenant, "records": by_kind,
        "chunks": len(chunks), "keyword_chunks": sum(c.keyword for c in chunks),
        "vector_chunks": vector_chunks, "embedders": embedders,
        "generation": lib.store.generation(lib.tenant),
        "synced_generation": int(lib.store.get_state(lib.tenant, "synced_generation") or 0),  # as Indexes.check
    }
    if args.json:
        emit(info)
        return 0
    synced = info["synced_generation"] == info["generation"]
    print(f"library   {info['home']}  (tenant {info['tenant']})")
    if not recs:
        print("  empty: import records with casepilot ingest FILE... (ingestion/sample_library/ has examples)")
    for kind, statuses in by_kind.items():
        counts = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items(), key=lambda kv: -kv[1]))
        print(f"  {kind + 's':<9} {sum(statuses.values()):>6}  ({counts})")
    spaces = ", ".join(f"{name} space {n} ({embedders[name]})" for name, n in vector_chunks.items())
    print(f"chunks    {info['chunks']:>8}  keyword index {info['keyword_chunks']}; {spaces}")
    print(f"indexes   generation {info['generation']}, "
          + ("in sync" if synced else f"behind the store (synced {info['synced_generation']}): "
             "the next search repairs them, or run casepilot reindex"))
    return 0


def register_indexes(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``reindex`` and ``status`` to the ``casepilot`` sub-command parser."""
    s = sub.add_parser("reindex", parents=[common], help="rebuild both indexes from the store",
                       description="Re-chunk every stored record and rebuild the vector and keyword indexes. "
                                   "Use it after changing CASEPILOT_EMBEDDER or the chunking settings, or after "
                                   "restoring the database from a backup (with --all-tenants).")
    s.add_argument("--all-tenants", action="store_true", help="every tenant in the store, one after another")
    s.set_defaults(func=cmd_reindex)

    s = sub.add_parser("status", parents=[common], help="what the library holds",
                       description="Records by kind and status, chunks in each index, and the embedding model "
                                   "of each vector space. It refuses, like every command, an index built with "
                                   "another model than the one configured.")
    s.set_defaults(func=cmd_status)

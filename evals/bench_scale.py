"""A library ten times larger: one library grown to 1,000,000 chunks, measured at each size on the way.

The cases are built from the development data as ``evals.bench_search`` builds them (nine real
Chinese customer-service sentences per case: a title and four sections; six chunks a case), with the
hash embedder's vectors, and imported through the product's own ``Ingestor`` in steps, so the library
at each size is the one ``casepilot ingest`` would make of those cases. At each size in ``--sizes`` a
new process opens it as a serving worker would (``evals.bench_scale_probe``): its start-up to the
first answered search, phase by phase (Chroma's HNSW indexes loading beside the models and the keyword
index, as ``assistant.warmup`` starts a worker; the phases overlap), its resident memory while serving
and per chunk, and search latency with and without a filter. Build time, disk and the builder's peak
memory are the growing library's.

    python -m evals.bench_scale [--sizes 12000 120000 1000000] [--home DIR] [--queries 200]

``--home DIR`` keeps the library and continues it on the next run (``DIR/built.json`` says how far it
got), so a build interrupted at any size goes on from there.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from assistant.types import Case
from evals.bench_scale_probe import PRODUCTS, open_library
from evals.bench_search import sentences
from evals.devdata import DEFAULT_DEV
from ingestion.pipeline import Ingestor

CHUNKS_PER_CASE = 6  # the title (question space), the view and four sections (keyword and passage spaces)
MAX_SERVING_MB = 4096
MAX_STARTUP_S = 5.0


def case(i: int, pool: list[str]) -> Case:
    """The ``i``-th case: the same for any size and any step, so a grown library is one library."""
    rng = random.Random(i)
    pick = rng.sample(pool, 9)
    return Case(id=f"S-{i:06d}", title=pick[0], problem="。".join(pick[1:3]), diagnosis="。".join(pick[3:5]),
                solution="。".join(pick[5:7]), outcome="。".join(pick[7:9]), product=rng.choice(PRODUCTS),
                tags=[f"产品线/{rng.choice(PRODUCTS)}"])


def disk_mb(home: Path) -> dict[str, float]:
    parts = {"store": home.glob("casepilot.db*"), "chroma": (home / "chroma").rglob("*"),
             "keyword": (home / "keyword").rglob("*")}
    out = {k: round(sum(f.stat().st_size for f in files if f.is_file()) / 1e6, 1) for k, files in parts.items()}
    out["total"] = round(sum(f.stat().st_size for f in home.rglob("*") if f.is_file()) / 1e6, 1)
    return out


def grow(home: Path, chunks: int, pool: list[str], step: int) -> dict[str, Any]:
    """Import cases into the library at ``home`` until it holds ``chunks`` chunks, ``step`` cases per
    import; ``built.json`` keeps the count, the import seconds so far, the builder's peak memory, and each
    import's wall-clock and processor seconds (whether a step costs more as the library grows)."""
    done = home / "built.json"
    built: dict[str, Any] = (json.loads(done.read_text()) if done.exists()
                             else {"chunks": 0, "records": 0, "build_s": 0.0})
    if built["records"] * CHUNKS_PER_CASE >= chunks:
        return built
    lib = open_library(home)
    try:
        while built["records"] * CHUNKS_PER_CASE < chunks:
            start = built["records"]
            cases = [case(i, pool) for i in range(start, min(start + step, -(-chunks // CHUNKS_PER_CASE)))]
            t0, c0 = time.perf_counter(), time.process_time()
            summary = Ingestor(lib).ingest_records(cases)
            built["build_s"] = round(built["build_s"] + time.perf_counter() - t0, 1)
            built["records"] += len(cases)
            built["chunks"] += summary.chunks_written
            built["builder_peak_rss_mb"] = max(built.get("builder_peak_rss_mb", 0),
                                               round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
            built.setdefault("steps", []).append({"chunks": built["chunks"], "s": round(time.perf_counter() - t0, 1),
                                                  "cpu_s": round(time.process_time() - c0, 1)})
            done.write_text(json.dumps(built))
            print(f"  {built['chunks']} chunks, {built['build_s']} s", file=sys.stderr, flush=True)
    finally:
        lib.close()
    return built


def measure(home: Path, queries_file: Path, queries: int, real_models: bool) -> dict[str, Any]:
    """A new worker process on the library (``evals.bench_scale_probe``), timed from its spawn."""
    cmd = [sys.executable, "-m", "evals.bench_scale_probe", str(home), "--queries-file", str(queries_file),
           "--queries", str(queries), "--spawned", repr(time.time())]
    if not real_models:
        cmd.append("--no-real-models")
    got = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return dict(json.loads(got.stdout.strip().splitlines()[-1]))


def phase(worker: dict[str, Any], name: str) -> str:
    """The span of the start-up phases named ``name...`` in seconds since the warm-up began (they overlap)."""
    spans = [ph for n, ph in worker["phases"].items() if n.startswith(name)]
    return f"{min(ph['from_s'] for ph in spans)}–{max(ph['to_s'] for ph in spans)}"


def row(r: dict[str, Any], before: dict[str, Any] | None) -> str:
    """One size's line of the table; memory per chunk is the worker's resident memory over the library
    it opened, and (after the first size) what each chunk added since the size before."""
    disk, s = r["disk_mb"], r["search"]
    per_chunk = f"{r['library_bytes_per_chunk']:,}"
    if before is not None and r["chunks"] > before["chunks"]:
        added = (r["rss_serving_mb"] - before["rss_serving_mb"]) * 2**20 / (r["chunks"] - before["chunks"])
        per_chunk += f" ({round(added):,})"
    lat = " | ".join(f"{s[k]['p50_ms']} / {s[k]['p95_ms']} / {s[k]['p99_ms']}"
                     for k in ("all", "unfiltered", "filtered"))
    return (f"| {r['chunks']:,} | {r['build_s']} | {disk['total']:,} ({disk['store']:,} / {disk['chroma']:,} / "
            f"{disk['keyword']:,}) | {r.get('builder_peak_rss_mb') or ''} | "
            f"{r['peak_rss_mb']:,} / {r['rss_serving_mb']:,} | {per_chunk} | "
            f"{phase(r, 'keyword index')} | {phase(r, 'vector indexes')} | {r['startup_s']} ({r['startup_cpu_s']}) | "
            f"{lat} |")


HEADER = ("| chunks | build s | disk MB (store / Chroma / keyword) | builder peak RSS MB "
          "| worker RSS peak / serving MB "
          "| library bytes per chunk (added per chunk) | keyword index loaded, s into the warm-up "
          "| vector indexes loaded (HNSW), s into the warm-up | worker start-up s (CPU) | search p50 / p95 / p99 ms "
          "| unfiltered | filtered |\n"
          "|---:|---:|---|---:|---:|---|---|---|---|---|---|---|")


def fit(rows: list[dict[str, Any]], key: str, at: int) -> float | None:
    """``key`` at ``at`` chunks, on the straight line through the two largest sizes measured, and never
    below the largest one's figure (memory and start-up only grow with the library: a falling line is
    the machine's noise)."""
    if len(rows) < 2 or any(r.get(key) is None for r in rows[-2:]):
        return None
    (x0, y0), (x1, y1) = [(r["chunks"], r[key]) for r in rows[-2:]]
    return max(y1, y1 + (y1 - y0) / (x1 - x0) * (at - x1)) if x1 != x0 else None


def targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 26's targets at 1,000,000 chunks, each met or not with its figure; from the line through
    the two largest sizes (and saying so) when the library did not get that far."""
    last = rows[-1]
    at = 1_000_000
    if last["chunks"] >= at:
        mem, start, cpu = last["rss_serving_mb"], last["startup_s"], last.get("startup_cpu_s")
        how = f"measured at {last['chunks']:,} chunks"
    else:
        mem, start, cpu = fit(rows, "rss_serving_mb", at), fit(rows, "startup_s", at), fit(rows, "startup_cpu_s", at)
        sizes = ", ".join(f"{r['chunks']:,}" for r in rows[-2:])
        how = f"extrapolated from {sizes} chunks, not measured"
    out = []
    for name, value, limit, unit in (("memory while serving", mem, MAX_SERVING_MB, "MB"),
                                     ("a worker's start-up", start, MAX_STARTUP_S, "s")):
        if value is None:
            out.append(f"{name} <= {limit} {unit} at 1,000,000 chunks: unknown (one size measured)")
            continue
        also = f"; {round(cpu, 1)} s of processor time" if unit == "s" and cpu is not None else ""
        out.append(f"{name} <= {limit} {unit} at 1,000,000 chunks: {'met' if value <= limit else 'not met'} "
                   f"({round(value, 1)} {unit}{also}, {how})")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", type=Path, default=DEFAULT_DEV)
    ap.add_argument("--sizes", nargs="+", type=int, default=[12_000, 120_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--step", type=int, default=20_000, help="cases per import while growing")
    ap.add_argument("--home", type=Path, default=None, help="keep the library there and continue it later")
    ap.add_argument("--no-real-models", action="store_true",
                    help="workers load no query embedding model (their start-up and memory then leave it out)")
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    args = ap.parse_args(argv)
    if not args.dev_data.is_dir():
        print(f"skipped: {args.dev_data} not found (the texts come from it)", file=sys.stderr)
        return 0
    pool = sentences(args.dev_data)
    home = args.home or Path(tempfile.mkdtemp(prefix="cp-scale-"))
    home.mkdir(parents=True, exist_ok=True)
    queries_file = home.parent / f"{home.name}-queries.json"
    queries_file.write_text(json.dumps(pool, ensure_ascii=False), encoding="utf-8")
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    print(HEADER, flush=True)  # each size's line as soon as it is measured: a long run shows its progress
    try:
        for size in sorted(args.sizes):
            print(f"growing to {size} chunks ...", file=sys.stderr, flush=True)
            built = grow(home, size, pool, args.step)
            worker = measure(home, queries_file, args.queries, not args.no_real_models)
            rows.append({**worker, "build_s": built["build_s"], "disk_mb": disk_mb(home),
                         "builder_peak_rss_mb": built.get("builder_peak_rss_mb")})
            print(json.dumps(rows[-1], ensure_ascii=False), file=sys.stderr, flush=True)
            print(row(rows[-1], rows[-2] if len(rows) > 1 else None), flush=True)
            (args.out / "scale.json").write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    except KeyboardInterrupt:  # stopped before the largest size: the targets from the sizes measured
        print("interrupted; --home DIR continues the library on the next run", file=sys.stderr)
    finally:
        queries_file.unlink(missing_ok=True)
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    for line in targets(rows) if rows else []:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

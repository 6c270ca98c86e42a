"""The million-chunk bench's parts on a tiny library: growing it in steps, a new worker process
measured on it, and the targets' verdicts (no timing is asserted: speed lives in ``make bench``)."""

from __future__ import annotations

import json
from pathlib import Path

from evals.bench_scale import CHUNKS_PER_CASE, case, grow, measure, row, targets
from evals.bench_scale_probe import open_library

POOL = [f"第{i}号客户反馈打印机连不上无线网络" if i % 2 else f"第{i}张发票抬头开错了需要重开" for i in range(40)]


def test_a_library_grown_in_steps_holds_every_case_once(tmp_path: Path) -> None:
    home = tmp_path / "lib"
    first = grow(home, 4 * CHUNKS_PER_CASE, POOL, step=3)
    assert (first["records"], first["chunks"]) == (4, 4 * CHUNKS_PER_CASE)
    assert [s["chunks"] for s in first["steps"]] == [3 * CHUNKS_PER_CASE, 4 * CHUNKS_PER_CASE]  # 3 cases, then 1
    assert all(s["cpu_s"] >= 0 for s in first["steps"])
    again = grow(home, 4 * CHUNKS_PER_CASE, POOL, step=3)
    assert again == first  # already that large: nothing imported
    more = grow(home, 7 * CHUNKS_PER_CASE, POOL, step=10)
    assert (more["records"], more["chunks"]) == (7, 7 * CHUNKS_PER_CASE)
    assert json.loads((home / "built.json").read_text())["records"] == 7
    lib = open_library(home, create=False)
    try:
        assert sorted(r.id for r in lib.store.records(lib.tenant)) == [f"S-{i:06d}" for i in range(7)]
        assert len(lib.keywords.ids()) == 7 * (CHUNKS_PER_CASE - 1)  # all but the titles
    finally:
        lib.close()
    assert case(5, POOL) == case(5, POOL) and case(5, POOL) != case(6, POOL)


def test_a_new_worker_is_measured_from_its_start(tmp_path: Path) -> None:
    home = tmp_path / "lib"
    grow(home, 5 * CHUNKS_PER_CASE, POOL, step=5)
    queries = tmp_path / "queries.json"
    queries.write_text(json.dumps(POOL, ensure_ascii=False), encoding="utf-8")
    worker = measure(home, queries, 6, real_models=False)
    assert worker["chunks"] == 5 * CHUNKS_PER_CASE
    phases = worker["phases"]  # they overlap: each is its span since the warm-up began
    assert set(phases) == {"vector store opened", "vector indexes", "query models", "keyword index",
                           "spaces and retriever", "first search"}
    assert phases["vector indexes"]["from_s"] >= phases["vector store opened"]["to_s"]
    assert phases["first search"]["from_s"] >= max(p["to_s"] for n, p in phases.items() if n != "first search")
    assert worker["startup_s"] >= worker["warm_up_s"] >= phases["first search"]["to_s"] > 0
    assert worker["peak_rss_mb"] >= worker["rss_serving_mb"] >= worker["rss_before_library_mb"] > 0
    assert set(worker["search"]) == {"all", "unfiltered", "filtered"}
    assert set(worker["search"]["filtered"]) == {"p50_ms", "p95_ms", "p99_ms"}
    line = row({**worker, "build_s": 1.0, "disk_mb": {"total": 3.0, "store": 1.0, "chroma": 1.5, "keyword": 0.5}}, None)
    assert line.startswith(f"| {5 * CHUNKS_PER_CASE} | 1.0 | 3.0 (1.0 / 1.5 / 0.5) |")


def test_targets_say_met_or_not_and_whether_measured() -> None:
    small = {"chunks": 100_000, "rss_serving_mb": 700, "startup_s": 4.0, "startup_cpu_s": 3.0}
    large = {"chunks": 200_000, "rss_serving_mb": 1000, "startup_s": 4.5, "startup_cpu_s": 3.5}
    memory, startup = targets([small, large])
    assert memory.endswith("met (3400.0 MB, extrapolated from 100,000, 200,000 chunks, not measured)")
    assert "<= 4096 MB" in memory and ": met (" in memory
    assert ": not met (8.5 s; 7.5 s of processor time, extrapolated" in startup
    memory, startup = targets([small, {"chunks": 1_000_000, "rss_serving_mb": 4200, "startup_s": 3.0}])
    assert ": not met (4200 MB, measured at 1,000,000 chunks)" in memory
    assert ": met (3.0 s, measured at 1,000,000 chunks)" in startup
    assert "unknown" in targets([small])[0]
    noisy = targets([{**small, "startup_s": 9.0}, large])[1]  # a falling line: the larger size's figure
    assert ": met (4.5 s;" in noisy

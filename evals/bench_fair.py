"""Fair under load: one tenant sends the heaviest valid requests while another asks short questions.

``casepilot serve`` (uvicorn, loopback) on a temporary home holding the sample library in two tenants,
``heavy`` and ``light``. First, with nothing else running, a prober calls ``/healthz`` every 50 ms and
one ``light`` client asks the sample questions through ``/v1/ask`` one after another (each question
was asked once before, so its embedding is cached, as it is for a question agents repeat). Then the
same while ``heavy`` runs N clients that each send, in turn, a 20,000-character tag suggestion (the
schema's maximum) and a 1,990-character question (under ``CASEPILOT_MAX_QUESTION_CHARS``), each a
different cut of real support conversations (so that no embedding cache helps). A heavy client told
429 waits what ``Retry-After`` says (``--impatient``: 50 ms). Prints p50 / p95 / p99 of each as a
Markdown table; a heavy request still running when the phase ends is waited for and counted.

    python -m evals.bench_fair [--heavy-clients 4] [--seconds 30] [--idle-seconds 10] [--workers 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from evals.bench_api import cli, serve

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "ingestion" / "sample_library"
QUESTIONS = ROOT / "evals" / "datasets" / "sample_questions.jsonl"
TAG_CHARS = 20_000  # TagsRequest.text's max_length
QUESTION_CHARS = 1_990  # under the default CASEPILOT_MAX_QUESTION_CHARS (2,000)


def long_text(chars: int) -> str:
    """Real support conversation (the sample tickets' messages), repeated up to ``chars`` characters."""
    parts = []
    for ln in (SAMPLE / "tickets.jsonl").read_text(encoding="utf-8").splitlines():
        if ln.strip():
            parts += [m["text"] for m in json.loads(ln).get("messages", [])]
    text = "\n".join(parts)
    while len(text) < chars:
        text += "\n" + text
    return text[:chars].strip()


def rotated(text: str, offset: int) -> str:
    offset %= len(text)
    return text[offset:] + "\n" + text[:offset]


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok: dict[str, list[float]] = {}
        self.status: dict[str, dict[int, int]] = {}

    def add(self, name: str, seconds: float, status: int) -> None:
        with self.lock:
            if status == 200:
                self.ok.setdefault(name, []).append(seconds)
            counts = self.status.setdefault(name, {})
            counts[status] = counts.get(status, 0) + 1

    def row(self, name: str) -> dict[str, Any]:
        lat = np.array(self.ok.get(name) or [np.nan]) * 1000
        counts = self.status.get(name, {})
        return {"name": name, "ok": len(self.ok.get(name, [])),
                "p50_ms": round(float(np.percentile(lat, 50)), 1), "p95_ms": round(float(np.percentile(lat, 95)), 1),
                "p99_ms": round(float(np.percentile(lat, 99)), 1), "max_ms": round(float(np.max(lat)), 1),
                "status_429": counts.get(429, 0),
                "errors": sum(n for s, n in counts.items() if s not in (200, 429))}


def _timed(c: httpx.Client, method: str, path: str, **kw: Any) -> tuple[float, int, httpx.Response | None]:
    t0 = time.perf_counter()
    try:
        r = c.request(method, path, **kw)
        return time.perf_counter() - t0, r.status_code, r
    except httpx.HTTPError:
        return time.perf_counter() - t0, 0, None


def phase(url: str, keys: dict[str, str], questions: list[str], seconds: float, heavy_clients: int,
          impatient: bool) -> Recorder:
    rec = Recorder()
    stop = time.perf_counter() + seconds
    source = long_text(2 * TAG_CHARS)

    def prober() -> None:
        with httpx.Client(base_url=url, timeout=120) as c:
            while time.perf_counter() < stop:
                dt, status, _ = _timed(c, "GET", "/healthz")
                rec.add("healthz", dt, status)
                time.sleep(max(0.0, 0.05 - dt))

    def light() -> None:
        i = 0
        with httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {keys['light']}"}) as c:
            while time.perf_counter() < stop:
                dt, status, _ = _timed(c, "POST", "/v1/ask", json={"question": questions[i % len(questions)]})
                rec.add("light /v1/ask", dt, status)
                i += 1

    def heavy(n: int) -> None:
        with httpx.Client(base_url=url, timeout=300, headers={"Authorization": f"Bearer {keys['heavy']}"}) as c:
            i = n
            while time.perf_counter() < stop:
                text = rotated(source, i * 7919 + n)  # a new text each time: no embedding cache helps
                if i % 2 == 0:
                    name, path, body = "heavy /v1/tags/suggest (20,000 chars)", "/v1/tags/suggest", {
                        "text": text[:TAG_CHARS].strip()}
                else:
                    name, path, body = f"heavy /v1/ask ({QUESTION_CHARS:,} chars)", "/v1/ask", {
                        "question": text[:QUESTION_CHARS].strip()}
                i += 1
                dt, status, r = _timed(c, "POST", path, json=body)
                rec.add(name, dt, status)
                if status == 429 and r is not None:
                    time.sleep(0.05 if impatient else float(r.headers.get("Retry-After", "1")))

    threads = [threading.Thread(target=prober), threading.Thread(target=light)]
    threads += [threading.Thread(target=heavy, args=(n,)) for n in range(heavy_clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return rec


def run(heavy_clients: int, seconds: float, idle_seconds: float, workers: int, impatient: bool) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="cp-bench-fair-"))
    server = None
    try:
        keys = {}
        for tenant, role in (("heavy", "reviewer"), ("light", "agent")):
            cli(home, "ingest", str(SAMPLE), "--tenant", tenant, "--json")
            keys[tenant] = json.loads(cli(home, "keys", "create", "--role", role, "--tenant", tenant,
                                           "--name", "bench", "--json"))["key"]
        server, url = serve(home, workers)
        questions = [json.loads(ln)["question"] for ln in QUESTIONS.read_text(encoding="utf-8").splitlines() if ln]
        # every question once, and one tag suggestion of each tenant: models, indexes, the question vectors
        with httpx.Client(base_url=url, timeout=300) as c:
            for q in questions:
                c.post("/v1/ask", json={"question": q}, headers={"Authorization": f"Bearer {keys['light']}"})
            c.post("/v1/tags/suggest", json={"text": "打印机连不上WiFi"},
                   headers={"Authorization": f"Bearer {keys['heavy']}"}).raise_for_status()
        idle = phase(url, keys, questions, idle_seconds, 0, impatient)
        loaded = phase(url, keys, questions, seconds, heavy_clients, impatient)
        rows = [{"phase": "idle", **idle.row(n)} for n in ("healthz", "light /v1/ask")]
        rows += [{"phase": f"{heavy_clients} heavy clients", **loaded.row(n)} for n in sorted(loaded.ok.keys() |
                                                                                              loaded.status.keys())]
        return {"heavy_clients": heavy_clients, "seconds": seconds, "workers": workers, "impatient": impatient,
                "rows": rows}
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heavy-clients", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30.0, help="the loaded phase")
    ap.add_argument("--idle-seconds", type=float, default=10.0, help="the phase without the heavy tenant")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--impatient", action="store_true", help="heavy clients retry a 429 after 50 ms")
    ap.add_argument("--out", type=Path, help="also write fair.json here")
    args = ap.parse_args()
    r = run(args.heavy_clients, args.seconds, args.idle_seconds, args.workers, args.impatient)
    print(f"{r['workers']} worker(s), {r['seconds']:.0f} s loaded; code: {ROOT}")
    print("| phase | requests | 200s | p50 ms | p95 ms | p99 ms | max ms | 429s | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in r["rows"]:
        print(f"| {row['phase']} | {row['name']} | {row['ok']} | {row['p50_ms']} | {row['p95_ms']} | {row['p99_ms']} | "
              f"{row['max_ms']} | {row['status_429']} | {row['errors']} |")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "fair.json").write_text(json.dumps(r, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

"""JSON Lines uploads imported in the background. The upload is spooled to a file under
``CASEPILOT_HOME/uploads`` while it arrives, the job is recorded in the store (so any worker process
can report it), and a small thread pool imports it under the tenant's write lock, recording progress
as it goes. A job whose worker died is reported ``interrupted`` once it has missed a few heartbeats
(any host reports it: the job is a row of the store); re-posting the same upload is safe, since
imports are idempotent."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from assistant.errors import CasepilotError
from ingestion.pipeline import Ingestor

from .auth import Principal
from .metrics import Metrics
from .store import ImportJob, JobStore
from .tenants import Tenants

log = logging.getLogger("casepilot.api")


class _Progress:
    """The ``Ingestor`` progress bar interface, writing the count to the job row at most twice a second."""

    def __init__(self, store: JobStore, job_id: str) -> None:
        self.store, self.job_id = store, job_id
        self.done = 0
        self._last = 0.0

    def update(self, n: int = 1) -> None:
        self.done += n
        if time.monotonic() - self._last > 0.5:
            self._last = time.monotonic()
            self.store.update_import_job(self.job_id, done=self.done)

    def close(self) -> None:
        self.store.update_import_job(self.job_id, done=self.done)


STALE_BEATS = 6  # heartbeats a job may miss before it counts as interrupted


class ImportJobs:
    """``heartbeat``: how often this process marks the jobs it holds as alive (their ``updated_at``),
    so that any host can tell a job whose host died (``interrupted``) from one still running."""

    def __init__(self, tenants: Tenants, metrics: Metrics, workers: int, heartbeat: float = 10.0) -> None:
        self.tenants = tenants
        self.metrics = metrics
        self.folder = tenants.settings.home / "uploads"
        self.workers = workers
        self.heartbeat = heartbeat
        self._held: set[str] = set()  # jobs of this process, queued or running
        self._beating: threading.Thread | None = None
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        # why a job of this process failed, for the request waiting on it (``wait=true``): a backend
        # that is down answers 503, as it would to any other request
        self.failures: dict[str, Exception] = {}
        self._lock = threading.Lock()

    def new_upload(self) -> tuple[str, Path]:
        self.folder.mkdir(parents=True, exist_ok=True)
        job_id = uuid.uuid4().hex
        return job_id, self.folder / f"{job_id}.jsonl"

    def submit(self, principal: Principal, job_id: str, path: Path, total: int, kind: str | None,
               overwrite_reviewed: bool = False) -> None:
        self.tenants.http.add_import_job(job_id, principal.tenant, principal.actor, total)
        with self._lock:  # made on first use, and again after close() (an app may be started twice)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="casepilot-import")
            if self._beating is None or not self._beating.is_alive():
                self._stop.clear()
                self._beating = threading.Thread(target=self._beat, name="casepilot-import-heartbeat", daemon=True)
                self._beating.start()
            self._held.add(job_id)
            self._pool.submit(self._run, principal, job_id, path, kind, total, overwrite_reviewed)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            with self._lock:
                held = sorted(self._held)
            if held:
                try:
                    self.tenants.http.touch_import_jobs(held)
                except Exception as e:  # the database is away: the next beat tries again
                    log.warning("import job heartbeat: %s", e)

    def _run(self, principal: Principal, job_id: str, path: Path, kind: str | None, total: int,
             overwrite_reviewed: bool = False) -> None:
        store = self.tenants.http
        status = "failed"
        try:
            tenant = self.tenants.get(principal.tenant)
            store.update_import_job(job_id, status="running")
            progress = _Progress(store, job_id)
            with tenant.write() as lib:
                summary = Ingestor(lib, actor=principal.actor, progress=lambda total, desc: progress,
                                   overwrite_reviewed=overwrite_reviewed).ingest_paths([path], kind)
            d = summary.to_dict()
            # the upload's server-side path means nothing to the client: a reject names its line
            d["rejected"] = [{k: v for k, v in r.items() if k != "file"} for r in d["rejected"]]
            d["warnings"] = [w.replace(str(path), "upload") for w in d["warnings"]]
            # records changed in review since their last import: kept (or replaced on purpose), by line
            for c in [*d["conflicts"], *d["overwritten"]]:
                c["file"] = c["file"].replace(str(path), "upload")
            # every line was dealt with, imported or rejected: done counts them all
            store.update_import_job(job_id, status="done", summary=d, done=total)
            status = "done"
        except CasepilotError as e:
            self.failures[job_id] = e
            store.update_import_job(job_id, status="failed", error=str(e))
        except Exception as e:  # reported in the job, never lost in the thread
            self.failures[job_id] = e
            log.exception("import job %s failed", job_id)
            store.update_import_job(job_id, status="failed", error=f"internal error: {type(e).__name__}")
        finally:
            with self._lock:
                self._held.discard(job_id)
            while len(self.failures) > 100:  # kept for a waiting request; unwaited ones age out
                self.failures.pop(next(iter(self.failures)))
            self.metrics.imports.labels(status).inc()
            path.unlink(missing_ok=True)

    def get(self, tenant: str, job_id: str) -> ImportJob | None:
        job = self.tenants.http.import_job(tenant, job_id)
        if job is not None and job.status in ("queued", "running"):
            silent = time.time() - datetime.fromisoformat(job.updated_at).timestamp()
            if silent > self.heartbeat * STALE_BEATS:
                job = replace(job, status="interrupted",
                              error=f"the host running this import stopped (no sign of it for {silent:.0f} s); "
                                    "post the upload again: imports are idempotent")
        return job

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=False)

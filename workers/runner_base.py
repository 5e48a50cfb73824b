"""What every path of the runner shares: the outcome of a delivery, a claimed job's work, and the
finish: fail, give back, a refused late finish, and the finished-hooks that run once per job."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis
from pydantic import BaseModel

from models.base import Engine
from models.page_reader import PageReader
from shared.failures import is_time_limit, short_error
from shared.infra import stats
from shared.infra.blobs import BlobStore, BlobStoreError
from shared.infra.settings import Settings
from shared.intake.images import Decoded
from shared.jobs import Job, JobError, now_ms
from shared.jobs.pages import PageStore
from shared.jobs.store import JobStore
from shared.results.model import PageResult, Timings
from workers import metrics
from workers.doc_files import DocumentFiles
from workers.leases import worker_identity

log = logging.getLogger("ocrq.runner")

FINISHED_RETRY_S = 30.0  # a Sentinel failover takes a few seconds


def ids(job: Job) -> dict[str, object]:
    """The `extra` every log line about a job carries (shared/infra/logs.py puts them in the JSON)."""
    return {"job_id": job.id, "tenant": job.tenant, "batch_id": job.batch_id}

@dataclass
class Outcome:
    job_id: str
    status: str  # succeeded | failed | skipped | retry
    retry_in: float | None = None
    detail: str = ""

@dataclass
class Work:
    job: Job
    t_claim: int
    decoded: Decoded | None = None
    fetch_ms: float = 0.0
    outcome: Outcome | None = None


FinishedHook = Callable[[Job], None]

SendPage = Callable[[str, int, str], None]  # (job id, page number, queue)


class StoredPage(BaseModel):
    """A page's result as stored until its document is assembled, with what it cost."""

    page: PageResult
    fetch_ms: float = 0.0
    infer_ms: float = 0.0

def work_timings(w: Work, infer_ms: float) -> Timings:
    job = w.job
    return Timings(
        queued_ms=float(max(0, (job.started_at or w.t_claim) - job.created_at)),
        fetch_ms=round(w.fetch_ms, 2),
        infer_ms=round(infer_ms, 2),
        total_ms=float(now_ms() - job.created_at),
    )


@dataclass
class RunnerBase:
    settings: Settings
    store: JobStore
    blobs: BlobStore
    engine: Engine
    worker: str = field(default_factory=worker_identity)
    on_finished: list[FinishedHook] = field(default_factory=list)
    # Sends one page message (job id, page, lane); None runs a document's pages in this process.
    send_page: SendPage | None = None
    pages: PageStore = field(init=False)
    documents: DocumentFiles = field(default_factory=DocumentFiles)

    def __post_init__(self) -> None:
        self.pages = PageStore(self.store.r, self.store.retention_s)

    @property
    def reader(self) -> PageReader:
        """Pages through this runner's engine (made per use: the engine may be swapped, as tests do)."""
        return PageReader(self.settings, self.engine, on_batch=metrics.observe_batch)

    def _refused(self, job: Job, why: str, page: int | None) -> Outcome:
        """A finish the compare-and-set refused (the lease lapsed and another attempt took the job
        or page, or it was canceled): nothing of it is stored; one line says so."""
        where = f"page {page}: " if page is not None else ""
        log.warning("finish refused: %s%s", where, why, extra={**ids(job), **({"page": page} if page else {})})
        return Outcome(job.id, "skipped", detail=f"finish refused: {where}{why}")

    def _read_finished(self, job_id: str) -> Job | None:
        """The finished job, read again through a Redis failover: its hooks (the webhook event, batch
        accounting) run only from here, so one lost read would lose them for good."""
        deadline = time.monotonic() + FINISHED_RETRY_S
        pause = 0.2
        while True:
            try:
                return self.store.get(job_id)
            except (redis.ConnectionError, redis.TimeoutError) as err:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("re-reading finished job %s: %s; retrying", job_id, err)
                time.sleep(pause)
                pause = min(2.0, pause * 2)

    def _fail(self, w: Work, code: str, message: str) -> None:
        t = self.store.fail(w.job.id, JobError(code=code, message=message), worker=self.worker)
        if t.applied:
            self._finished(w.job.id)
            w.outcome = Outcome(w.job.id, "failed", detail=code)
        else:
            w.outcome = self._refused(w.job, f"failing it ({code}): now {t.status}", None)

    def _fail_time_limit(self, w: Work) -> None:
        """At once, whatever the attempts: the job would run out of time again."""
        self._fail(w, "time_limit", f"the job ran past OCRQ_JOB_TIME_LIMIT_S ({self.settings.job_time_limit_s} s)")

    def _storage_down(self, w: Work, err: BlobStoreError) -> None:
        """Storage is down, which is no fault of the job: give it back with the attempt its claim
        counted refunded, and retry with a growing backoff. It fails (storage_unavailable) only
        once it has waited for storage past OCRQ_STORAGE_OUTAGE_DEADLINE_S. A storage client that
        wraps a time limit is no outage: the job fails with time_limit."""
        if is_time_limit(err):
            self._fail_time_limit(w)
            return
        now = now_ms()
        since = w.job.storage_wait_since or now
        waited_s = (now - since) / 1000
        deadline_s = self.settings.storage_outage_deadline_s
        if waited_s >= deadline_s:
            self._fail(
                w,
                "storage_unavailable",
                f"storage was unavailable for {waited_s:.0f} s (OCRQ_STORAGE_OUTAGE_DEADLINE_S={deadline_s})",
            )
            return
        self.store.release(w.job.id, self.worker, refund_attempt=True, fields={"storage_wait_since": since})
        metrics.observe_finished("retried")
        retry_in = min(30.0, max(2.0, waited_s / 4), max(1.0, deadline_s - waited_s))
        log.warning(
            "storage unavailable, retry in %.0f s (attempt not counted): %s",
            retry_in,
            short_error(err),
            extra=ids(w.job),
        )
        w.outcome = Outcome(w.job.id, "retry", retry_in=retry_in, detail=f"storage unavailable: {short_error(err)}")

    def _give_back(self, w: Work, why: str) -> None:
        self.store.release(w.job.id, self.worker)
        metrics.observe_finished("retried")
        log.warning("given back for a retry: %s", why, extra=ids(w.job))
        w.outcome = Outcome(w.job.id, "retry", retry_in=5.0, detail=why)

    def _finished(self, job_id: str, timings: Timings | None = None) -> None:
        job = self._read_finished(job_id)
        if job is None or not job.terminal:
            return  # purged; or the transition was lost with a Redis primary: the job runs again
        try:
            stats.record_finished(self.store.r, job.status.value, timings)
        except Exception:
            log.warning("could not record stats for %s", job_id, extra=ids(job))
        metrics.observe_finished(job.status.value)
        log.info("finished", extra={**ids(job), "status": job.status.value})
        # The transition put the job on hooks_pending; it leaves once every hook ran. A hook that fails
        # (or a worker that dies here) leaves it for the reaper, which runs all the hooks again (each is
        # idempotent). The hooks after a failed one wait for that too: batch accounting drops the record
        # the webhook hook needs.
        for hook in self.on_finished:
            try:
                hook(job)
            except Exception:  # a hook (webhook outbox, batch counters) must not undo a finished job
                log.exception("finished-hook failed for %s; the reaper runs the hooks again", job_id,
                              extra=ids(job))
                return
        try:
            self.store.hooks_done(job_id)
        except Exception:  # the reaper's sweep runs the (idempotent) hooks once more and clears it
            log.warning("could not clear the pending hooks of %s", job_id, extra=ids(job))

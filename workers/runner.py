"""The job runner: claim → fetch → decode → engine → store result → finish. No Celery in here.

The runner decides what a delivery of a job id means from the job record alone, so a duplicate,
late or redelivered message can never do harm: finished jobs are skipped, a job another live
worker holds is left alone (retry later), and a job whose worker died is taken over.

This module claims; what follows a claim lives beside it: the image path (workers/image_path.py),
the page path of documents (workers/page_path.py) and their assembly (workers/assembly.py), the
shared finish (workers/runner_base.py), leases (workers/leases.py), error text (workers/failures.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from shared.failures import is_time_limit
from shared.infra import tracing
from shared.jobs import Job, JobError, Status, now_ms
from shared.jobs.pages import PAGES_OWNER
from workers.image_path import ImagePath
from workers.leases import Heartbeat, owner_is_dead
from workers.page_path import PagePath
from workers.runner_base import Outcome, Work, ids

log = logging.getLogger("ocrq.runner")


@dataclass
class JobRunner(ImagePath, PagePath):
    def _beat_jobs(self, jobs: list[Job]) -> None:
        for job in jobs:
            try:
                self.store.heartbeat(job.id, self.worker, self.settings.lease_s)
            except Exception:
                log.warning("heartbeat failed for %s", job.id, extra=ids(job))

    def run(self, job_id: str) -> Outcome:
        return self.run_many([job_id])[0]

    def run_many(self, job_ids: Sequence[str]) -> list[Outcome]:
        """Run several jobs as one engine batch; each job succeeds or fails on its own."""
        works: list[Work] = []
        outcomes: dict[str, Outcome] = {}
        for job_id in job_ids:
            claimed = self._claim(job_id)
            if isinstance(claimed, Outcome):
                outcomes[job_id] = claimed
            else:
                works.append(claimed)
        if works:
            images = [w for w in works if w.job.pages_total is None]
            try:
                with Heartbeat(partial(self._beat_jobs, [w.job for w in images]), self.settings.lease_s):
                    for w in images:
                        self._fetch(w)
                    self._infer([w for w in images if w.outcome is None])
            except Exception as err:  # a time limit where no step looked for one: the claimed jobs fail with it
                if not is_time_limit(err):
                    raise
                for w in images:
                    if w.outcome is None:
                        self._fail_time_limit(w)
            for w in works:
                if w.job.pages_total is not None:
                    self._fan_out(w)
            for w in works:
                assert w.outcome is not None
                outcomes[w.job.id] = w.outcome
        return [outcomes[j] for j in job_ids]

    def _claim(self, job_id: str) -> Work | Outcome:
        job = self.store.get(job_id)
        if job is None:
            return Outcome(job_id, "skipped", detail="no such job (expired or deleted)")
        # In the job's trace even when its message came without one (shared/infra/tracing.py).
        with tracing.job_span("ocrq.claim", job.traceparent, attributes={"ocrq.job_id": job_id,
                                                                          "ocrq.worker": self.worker}) as span:
            claimed = self._claim_job(job)
            span.set_attribute("ocrq.claim", claimed.status if isinstance(claimed, Outcome) else "claimed")
            return claimed

    def _claim_job(self, job: Job) -> Work | Outcome:
        job_id = job.id
        if job.terminal:
            return Outcome(job_id, "skipped", detail=f"already {job.status.value}")
        if job.status == Status.running and job.worker == PAGES_OWNER:
            return Work(job, now_ms())  # its pages are out: _fan_out re-sends what looks lost
        if job.attempts >= self.settings.max_attempts:
            # Each claim counts an attempt; reaching the cap means earlier attempts crashed the worker.
            err = JobError(code="attempts_exhausted",
                           message=f"the job crashed or timed out {job.attempts} times; giving up")
            t = self.store.fail(job_id, err)
            if t.applied:
                self._finished(job_id)
            return Outcome(job_id, "failed" if t.applied else "skipped", detail=err.code)
        if job.status == Status.queued:
            t = self.store.claim(job_id, self.worker, self.settings.lease_s)
        else:  # running
            lease_left = ((job.lease_until or 0) - now_ms()) / 1000
            if lease_left > 0 and not owner_is_dead(job.worker):
                return Outcome(job_id, "retry", retry_in=lease_left + 0.5, detail=f"held by {job.worker}")
            t = self.store.take_over(job_id, self.worker, self.settings.lease_s, job.worker or "")
        if not t.applied:
            return Outcome(job_id, "skipped", detail=f"claim lost: now {t.status.value if t.status else 'missing'}")
        fresh = self.store.get(job_id)
        if fresh is None:
            return Outcome(job_id, "skipped", detail="deleted while claiming")
        log.info("claimed", extra={**ids(fresh), "attempt": fresh.attempts})
        return Work(fresh, now_ms())

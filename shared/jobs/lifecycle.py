"""Ending a job from outside its worker: cancel a queued one, purge a finished one and its data."""

from __future__ import annotations

from shared.errors import Conflict
from shared.infra import stats
from shared.infra.blobs import BlobStore
from shared.jobs.model import Job, Status
from shared.jobs.pages import PAGES_OWNER, PageStore
from shared.jobs.store import JobStore
from shared.reviews.service import forget_review
from shared.webhooks.events import emit_job_canceled
from shared.webhooks.outbox import Outbox


class JobRunning(Conflict):
    """The job is running: it can be purged once it is final (Retry-After)."""

    code = "job_running"
    retry_after_s = 2


class NotCancelable(Conflict):
    """Only a queued job (or a running document, or a batch not final) can be canceled."""

    code = "not_cancelable"


def cancel(store: JobStore, outbox: Outbox, job: Job, *, purging: bool = False) -> Job:
    """queued → canceled, with its job.canceled event; so is a document whose pages are out
    (running, held by no worker): the pages not yet started then never start. Any other job past
    queued is not cancelable; when the caller purges anyway (``purging``) that is no error, the
    purge decides."""
    if job.status != Status.queued and not (job.status == Status.running and job.worker == PAGES_OWNER):
        if purging:
            return job
        raise NotCancelable(f"job {job.id} is {job.status.value}; only queued jobs and documents can be canceled "
                            "(use ?purge=true on a finished job to delete it and its data)")
    t = store.cancel(job.id)
    current = store.get(job.id) or job
    if t.applied:
        stats.record_finished(store.r, Status.canceled.value, None)
        emit_job_canceled(outbox, current)
    elif not purging:
        raise NotCancelable(f"job {job.id} is already {t.status.value if t.status else 'gone'}")
    return current


def purge(store: JobStore, blobs: BlobStore, job: Job) -> None:
    """Delete a finished job's record, result, review revisions and (if ocrq stored it) input."""
    if job.status == Status.running:
        raise JobRunning("a running job cannot be purged; retry when it has finished")
    if job.result_key:
        blobs.delete(job.result_key)
    if job.pages_total is not None:  # a document: what its pages stored (a canceled one's, say)
        PageStore(store.r, store.retention_s).forget(job.id, blobs)
    forget_review(store, blobs, job)  # a reviewed job: its corrected revision and review indexes
    # Only an input ocrq stored itself is deleted: a by-reference source belongs to the tenant.
    # An uploaded input is content-addressed per tenant, so purging deletes those bytes for the
    # tenant's other jobs with the same image too (purge means "forget this image").
    if job.input.bucket == blobs.bucket and job.input.key.startswith(f"inputs/{job.tenant}/"):
        blobs.delete(job.input.key)
    store.delete(job)

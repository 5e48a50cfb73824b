"""The job runner's finished-hook for webhooks, and handing claimed deliveries to the webhook worker."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from celery import Celery

from shared.infra.blobs import BlobStore
from shared.infra.broker import QUEUE_WEBHOOKS, TASK_DELIVER_WEBHOOK
from shared.infra.settings import Settings
from shared.infra.storage import open_blob_store
from shared.jobs.model import Job
from shared.jobs.store import JobStore
from shared.webhooks.events import (
    Claimed,
    emit_job_event,
    wants_events,
)
from shared.webhooks.outbox import Outbox

log = logging.getLogger("ocrq.webhooks")

# The job is already terminal when the hook runs, and nothing else writes its event: a Redis that
# drops the connection right after the transition (a primary killed, a Sentinel failover) would
# lose the event for good. emit() is idempotent, so the hook is retried across an outage of about
# a failover's length (down-after + election), with a growing pause.
HOOK_RETRY_S = 30.0
_TRANSIENT = (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError)


def send_claimed(celery: Celery | None, claimed: Claimed) -> None:
    """Hand claimed deliveries to the webhook worker now; if this fails the lease expires and
    the scheduler loop sends them instead."""
    if celery is None or not claimed:
        return
    for m, token in claimed:
        try:
            celery.send_task(TASK_DELIVER_WEBHOOK, args=[m, token], queue=QUEUE_WEBHOOKS)
        except Exception:
            log.warning("could not send webhook task for %s; the scheduler will", m)


def job_hook(settings: Settings, store: JobStore, celery: Celery | None) -> Callable[[Job], None]:
    """The finished-hook of the job runner: outbox first, then a message for the first attempt."""
    outbox = Outbox(store.r, settings)
    blobs_holder: list[BlobStore] = []

    def emit(job: Job) -> None:
        if not wants_events(outbox, job):
            return
        if not blobs_holder:
            blobs_holder.append(open_blob_store(settings))
        res = emit_job_event(outbox, job, blobs_holder[0], claim=celery is not None)
        if res is not None:
            send_claimed(celery, res[1])

    def hook(job: Job) -> None:
        deadline = time.monotonic() + HOOK_RETRY_S
        pause = 0.2
        while True:
            try:
                emit(job)
                return
            except _TRANSIENT as err:
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("Redis unavailable writing the %s event of %s, retry in %.1f s: %s",
                            job.status.value, job.id, pause, err)
                time.sleep(pause)
                pause = min(2.0, pause * 2)

    return hook

"""The job runner's finished-hook for webhooks, and handing claimed deliveries to the webhook worker."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Celery

from shared.blobs import BlobStore, open_blob_store
from shared.broker import QUEUE_WEBHOOKS, TASK_DELIVER_WEBHOOK
from shared.jobs.model import Job
from shared.jobs.store import JobStore
from shared.settings import Settings
from shared.webhooks.events import (
    Claimed,
    emit_batch_completed,
    emit_job_event,
    wants_events,
)
from shared.webhooks.outbox import Outbox

log = logging.getLogger("ocrq.webhooks")


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

    def hook(job: Job) -> None:
        if not wants_events(outbox, job):
            return
        if not blobs_holder:
            blobs_holder.append(open_blob_store(settings))
        res = emit_job_event(outbox, job, blobs_holder[0], claim=celery is not None)
        if res is not None:
            send_claimed(celery, res[1])

    return hook


def batch_completed(outbox: Outbox, tenant: str, batch_id: str, finished_ms: int, batch: dict[str, Any],
                    celery: Celery | None = None) -> str:
    msg_id, claimed = emit_batch_completed(outbox, tenant, batch_id, finished_ms, batch, claim=celery is not None)
    send_claimed(celery, claimed)
    return msg_id

"""What happens when a job reaches a final state, beyond the job record itself.

Each hook runs after the compare-and-set that finished the job, so it runs once per job even
when messages are redelivered. Human review routing, webhook outbox and batch
accounting register here.
"""

from __future__ import annotations

from collections.abc import Callable

from celery import Celery

from shared.infra.settings import Settings
from shared.jobs import Job
from shared.jobs.store import JobStore
from shared.reviews.routing import review_hook
from workers.webhooks.hooks import job_hook as webhook_outbox_hook


def finished_hooks(settings: Settings, store: JobStore, celery: Celery | None) -> list[Callable[[Job], None]]:
    hooks: list[Callable[[Job], None]] = []
    hooks.append(review_hook(store, settings))  # first: the job's event shows the review it opened
    hooks.append(webhook_outbox_hook(settings, store, celery))
    from shared.batches.accounting import (
        batch_hook,  # batch accounting: counters, outputs, ledger, window refill
    )

    hooks.append(batch_hook(settings, store, celery))
    return hooks

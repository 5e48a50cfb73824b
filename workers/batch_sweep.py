"""The planner's sweep: account the finished jobs of a batch whose finished-hooks never ran.

A worker that dies between finishing a job and running its hook leaves the item in the batch's
in-flight set for good; the sweep finds such jobs (terminal for longer than SWEEP_GRACE_MS, or
whose record is gone) and accounts them as the hook would have (shared/batches/accounting.py).
"""

from __future__ import annotations

import json
import logging

import redis

from shared.batches.accounting import Accountant, account_keys, emit_item_event, failure_json, ledger_row
from shared.batches.lua import Scripts
from shared.batches.model import SWEEP_GRACE_MS, Batch, bkey
from shared.batches.sources import Item
from shared.infra.blobs import BlobStoreError
from shared.infra.redis_client import as_str
from shared.jobs.model import now_ms
from shared.jobs.store import JobStore

log = logging.getLogger("ocrq.backfill")  # the planner's logger


def sweep(r: redis.Redis, store: JobStore, scripts: Scripts, acct: Accountant, b: Batch) -> None:
    """Account every in-flight job of ``b`` that finished (or vanished) without being accounted."""
    ids = [as_str(j) for j in r.hkeys(bkey(b.id, "inflight"))]
    if not ids:
        return
    pipe = r.pipeline(transaction=False)
    for j in ids:
        pipe.hmget(JobStore.key(j), ["status", "finished_at"])
    cutoff = now_ms() - SWEEP_GRACE_MS
    for j, (status, finished) in zip(ids, pipe.execute(), strict=True):
        if status is None:
            _account_lost(r, scripts, acct, b, j)
            continue
        st = json.loads(status)
        fin = json.loads(finished) if finished else None
        if st in ("succeeded", "failed", "canceled") and (fin or 0) <= cutoff:
            job = store.get(j)
            if job is not None:
                try:
                    acct.finish(job)
                except BlobStoreError as err:
                    log.warning("sweep of %s deferred: %s", j, err)


def _account_lost(r: redis.Redis, scripts: Scripts, acct: Accountant, b: Batch, job_id: str) -> None:
    """The job record is gone (expired, deleted): its item fails with ``job_lost``, all its pages."""
    raw = r.hget(bkey(b.id, "inflight"), job_id)
    if raw is None:
        return
    item = Item.from_json(raw)
    pages = item.pages or 1
    message = "the job record disappeared"
    row = ledger_row(b, item, "failed", error={"code": "job_lost", "message": message})
    failure = failure_json(item, "job_lost", message, pages=pages, pages_failed=pages)
    accounted = scripts.account(keys=account_keys(b.id, job_id, b.tenant),
                                args=[job_id, "failed", row, item.id, failure, 0, pages])
    if accounted:
        emit_item_event(acct.outbox, b, item, row)

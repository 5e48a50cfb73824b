"""Finishing an item: outputs, ledger row and counters, exactly once (the runner's hook and the sweep)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from shared.batches.dedup import OutputFailed, write_outputs
from shared.batches.lua import Scripts
from shared.batches.model import (
    NOT_RETRYABLE,
    WAKE,
    Batch,
    bkey,
    fingerprint,
    output_key,
)
from shared.batches.sources import Item
from shared.infra.blobs import BlobNotFound, BlobStore
from shared.infra.settings import Settings
from shared.jobs.model import Job, JobError, Status, now_ms
from shared.jobs.store import JobStore
from shared.webhooks.outbox import Outbox

log = logging.getLogger("ocrq.batches")

# While a finished job is on hooks_pending its finished-hooks (the runner's, else the reaper's sweep) own
# it: the webhook hook reads the job record that accounting drops, so the planner's sweep leaves such a
# job alone this long before it accounts it anyway (the hooks keep failing: the event is given up).
HOOKS_OWN_MS = 10 * 60 * 1000


def ledger_row(batch: Batch, item: Item, status: str, *, sha256: str = "", error: dict[str, str] | None = None,
               job_id: str | None = None) -> str:
    row: dict[str, Any] = {
        "key": item.key,
        "sha256": sha256 or None,
        "status": status,
        "result": f"{batch.out_bucket}/{output_key(batch.out_prefix, item.key, batch.output_formats[0])}"
        if status in ("succeeded", "skipped")
        else None,
        "error": error,
        "job_id": job_id,
        "at": now_ms(),
    }
    if item.line is not None:
        row["line"] = item.line
    if batch.output_formats != ("json",) and status in ("succeeded", "skipped"):
        row["outputs"] = [
            f"{batch.out_bucket}/{output_key(batch.out_prefix, item.key, f)}" for f in batch.output_formats
        ]
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)


def failure_json(item: Item, code: str, message: str, sha256: str = "", *, pages: int = 0,
                 pages_failed: int = 0) -> str:
    """A failed item; `pages`/`pages_failed` are what it counted in the batch's page counters
    (retry-failed takes them back)."""
    return json.dumps(
        {
            "key": item.key,
            "line": item.line,
            "metadata": item.metadata,
            "code": code,
            "message": message,
            "sha256": sha256 or None,
            "retryable": code not in NOT_RETRYABLE,
            "at": now_ms(),
            **({"pages": pages, "pages_failed": pages_failed} if pages else {}),
        },
        separators=(",", ":"),
    )


# ------------------------------------------------------------------------------- finishing an item
# One event per finished item, only to endpoints that subscribed to these types (never by default).
ITEM_EVENT = {"succeeded": "batch.item.succeeded", "skipped": "batch.item.succeeded", "failed": "batch.item.failed"}


def emit_item_event(outbox: Outbox, batch: Batch, item: Item, row: str) -> None:
    """``batch.item.succeeded`` / ``batch.item.failed`` for one item, carrying its ledger row: the
    source key (and manifest line), its status, and where its result lies in the output bucket.

    That location resolves for as long as the output bucket keeps the object, whereas the item's
    job record is dropped once the item is counted (a job link would answer 404 within seconds).
    Nothing is written when no endpoint of the tenant asks for the type: a backfill of millions of
    scans must not fill the outbox, nor flood a WMS that only wants its scanners' jobs.
    Safe to repeat (the outbox dedups by subject and type); never fails the accounting.
    """
    doc = json.loads(row)
    event_type = ITEM_EVENT.get(doc["status"])
    if event_type is None:  # canceled items: batch.completed says how many
        return
    try:
        if not any(ep.wants(event_type) and not ep.disabled for ep in outbox.endpoints.list(batch.tenant)):
            return
        outbox.emit(batch.tenant, event_type, f"{batch.id}/{item.id}", int(doc["at"]),
                    {"batch_id": batch.id, "item": doc})
    except Exception:  # noqa: BLE001 - the item is counted either way; the event is best effort here
        log.exception("could not write the %s event of %s in batch %s", event_type, item.id, batch.id)


class Accountant:
    """Turns a finished job into outputs, a ledger row and counters; shared by the hook and the sweep."""

    def __init__(self, settings: Settings, store: JobStore, blobs: BlobStore | None = None) -> None:
        self.settings, self.store, self.r = settings, store, store.r
        self._blobs = blobs
        self.scripts = Scripts(store.r)
        self._batches: dict[str, Batch] = {}
        self.outbox = Outbox(store.r, settings)

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            from shared.infra.storage import open_blob_store

            self._blobs = open_blob_store(self.settings)
        return self._blobs

    def batch(self, batch_id: str) -> Batch | None:
        b = self._batches.get(batch_id)
        if b is None:
            b = Batch.load(self.r, batch_id)
            if b is not None:
                if len(self._batches) > 256:
                    self._batches.clear()
                self._batches[batch_id] = b
        return b

    def _hooks_pending(self, job: Job) -> bool:
        since = self.r.zscore(JobStore.HOOKS_PENDING, job.id)
        if since is None:
            return False
        return now_ms() - min(int(since), job.finished_at or int(since)) < HOOKS_OWN_MS

    def finish(self, job: Job, *, from_hooks: bool = False) -> bool:
        """Account a terminal job of a batch, exactly once however often it is called (the ledger
        row and counters go with the HDEL of its in-flight entry, in one script); False when it is
        not (or no longer) in the in-flight set.

        ``from_hooks``: called by the job's finished-hooks. Any other caller (the planner's sweep)
        leaves a job whose hooks are still pending to them, for up to HOOKS_OWN_MS."""
        if not job.batch_id or not job.terminal:
            return False
        if not from_hooks and self._hooks_pending(job):
            return False
        raw = self.r.hget(bkey(job.batch_id, "inflight"), job.id)
        if raw is None:
            return False  # already accounted, or the planner has not registered it yet (the sweep will)
        b = self.batch(job.batch_id)
        if b is None:
            return False
        item = Item.from_json(raw)
        status, error = self._outcome(job, b, item)
        pages, pages_done, pages_failed = page_counts(item, job, status)
        fail_field, fail_doc = "", ""
        if error:
            fail_field, fail_doc = item.id, failure_json(
                item, error["code"], error["message"], job.input.sha256, pages=pages, pages_failed=pages_failed
            )
        row = ledger_row(b, item, status, sha256=job.input.sha256, error=error, job_id=job.id)
        done = bool(self.scripts.account(keys=account_keys(b.id, job.id, job.tenant),
                                         args=[job.id, status, row, fail_field, fail_doc, pages_done, pages_failed]))
        if done and job.result_key and status == "succeeded":
            try:  # the mirror is the result now; the per-job copy would only be an orphan
                self.blobs.delete(job.result_key)
            except Exception:
                pass
        if done:
            emit_item_event(self.outbox, b, item, row)
        return done

    def _outcome(self, job: Job, b: Batch, item: Item) -> tuple[str, dict[str, str] | None]:
        """The item's ledger status and error. A succeeded job counts only once its outputs are
        written to the batch's output bucket: a result that is gone or cannot be written fails it."""
        if job.status == Status.succeeded and job.result_key:
            return self._write_outputs(job, b, item)
        if job.status == Status.canceled:
            return "canceled", None
        e = job.error or JobError(code="failed", message="the job failed")
        return "failed", {"code": e.code, "message": e.message}

    def _write_outputs(self, job: Job, b: Batch, item: Item) -> tuple[str, dict[str, str] | None]:
        assert job.result_key is not None
        try:
            result = json.loads(self.blobs.get(job.result_key))
        except BlobNotFound:
            result = None
        if result is None:
            return "failed", {"code": "result_missing", "message": "the job's result object is gone"}
        eng = result.get("engine") or {}
        fp = fingerprint(job.input.sha256, job.spec, eng.get("name", ""), eng.get("version", ""))
        try:
            write_outputs(self.blobs, self.settings, b, item, job.input, fp, result, job_id=job.id,
                          pages_total=job.pages_total)
        except OutputFailed as err:
            return "failed", {"code": err.code, "message": err.message}
        return "succeeded", None


def account_keys(batch_id: str, job_id: str, tenant: str) -> list[str]:
    """The keys of the ``account`` script (shared/batches/lua.py): the batch's counters, in-flight
    set, failures and ledger, and the job record with every index it may still be on."""
    return [
        bkey(batch_id),
        bkey(batch_id, "inflight"),
        bkey(batch_id, "failures"),
        bkey(batch_id, "ledger"),
        JobStore.key(job_id),
        JobStore.tenant_index(tenant),
        JobStore.RUNNING,
        JobStore.UNSENT,
        JobStore.QUEUED,
        JobStore.EXPIRING,
    ]


def page_counts(item: Item, job: Job, status: str) -> tuple[int, int, int]:
    """(pages the item counted when planned, pages read, pages failed) for a finished item: a
    succeeded document counts its failed pages as failed; a failed item fails all its pages."""
    pages = item.pages if item.pages is not None else len(job.pages or ()) or job.pages_total or 1
    if status == "succeeded":
        failed = min(pages, job.pages_failed or 0)
        return pages, pages - failed, failed
    if status == "failed":
        return pages, 0, pages
    return pages, 0, 0


def batch_hook(settings: Settings, store: JobStore, celery: Any = None) -> Callable[[Job], None]:
    """The runner's finished hook: account the item, then nudge a planner to refill the window."""
    acct = Accountant(settings, store)

    def hook(job: Job) -> None:
        if not job.batch_id:
            return
        try:
            acct.finish(job, from_hooks=True)
        finally:
            pipe = store.r.pipeline(transaction=False)
            pipe.lpush(WAKE, job.batch_id)
            pipe.ltrim(WAKE, 0, 999)
            pipe.execute()

    return hook

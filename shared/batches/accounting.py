"""Finishing an item: outputs, ledger row and counters, exactly once (the runner's hook and the sweep)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from shared.batches.dedup import write_outputs
from shared.batches.lua import Scripts
from shared.batches.model import (
    NOT_RETRYABLE,
    WAKE,
    Batch,
    bkey,
    fingerprint,
    mirror_key,
)
from shared.batches.sources import Item
from shared.blobs import BlobNotFound, BlobStore
from shared.jobs.model import Job, JobError, Status, now_ms
from shared.jobs.store import JobStore
from shared.settings import Settings


def ledger_row(batch: Batch, item: Item, status: str, *, sha256: str = "", error: dict[str, str] | None = None,
               job_id: str | None = None) -> str:
    row: dict[str, Any] = {
        "key": item.key,
        "sha256": sha256 or None,
        "status": status,
        "result": f"{batch.out_bucket}/{mirror_key(batch.out_prefix, item.key)}"
        if status in ("succeeded", "skipped")
        else None,
        "error": error,
        "job_id": job_id,
        "at": now_ms(),
    }
    if item.line is not None:
        row["line"] = item.line
    return json.dumps(row, separators=(",", ":"), ensure_ascii=False)


def failure_json(item: Item, code: str, message: str, sha256: str = "") -> str:
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
        },
        separators=(",", ":"),
    )


# ------------------------------------------------------------------------------- finishing an item
class Accountant:
    """Turns a finished job into outputs, a ledger row and counters; shared by the hook and the sweep."""

    def __init__(self, settings: Settings, store: JobStore, blobs: BlobStore | None = None) -> None:
        self.settings, self.store, self.r = settings, store, store.r
        self._blobs = blobs
        self.scripts = Scripts(store.r)
        self._batches: dict[str, Batch] = {}

    @property
    def blobs(self) -> BlobStore:
        if self._blobs is None:
            from shared.blobs import open_blob_store

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

    def finish(self, job: Job) -> bool:
        """Account a terminal job of a batch; False when it is not (yet) in the in-flight set."""
        if not job.batch_id or not job.terminal:
            return False
        raw = self.r.hget(bkey(job.batch_id, "inflight"), job.id)
        if raw is None:
            return False  # already accounted, or the planner has not registered it yet (the sweep will)
        b = self.batch(job.batch_id)
        if b is None:
            return False
        item = Item.from_json(raw)
        fail_field, fail_doc, error = "", "", None
        if job.status == Status.succeeded and job.result_key:
            try:
                result = json.loads(self.blobs.get(job.result_key))
            except BlobNotFound:
                result = None
            if result is None:
                status, error = "failed", {"code": "result_missing", "message": "the job's result object is gone"}
            else:
                eng = result.get("engine") or {}
                fp = fingerprint(job.input.sha256, job.spec, eng.get("name", ""), eng.get("version", ""))
                write_outputs(self.blobs, b, item, job.input, fp, result, job_id=job.id)
                status = "succeeded"
        elif job.status == Status.canceled:
            status = "canceled"
        else:
            e = job.error or JobError(code="failed", message="the job failed")
            status, error = "failed", {"code": e.code, "message": e.message}
        if error:
            fail_field, fail_doc = item.id, failure_json(item, error["code"], error["message"], job.input.sha256)
        row = ledger_row(b, item, status, sha256=job.input.sha256, error=error, job_id=job.id)
        lua_keys = [
            bkey(b.id),
            bkey(b.id, "inflight"),
            bkey(b.id, "failures"),
            bkey(b.id, "ledger"),
            JobStore.key(job.id),
            JobStore.tenant_index(job.tenant),
            JobStore.RUNNING,
            JobStore.UNSENT,
            JobStore.QUEUED,
            JobStore.EXPIRING,
        ]
        done = bool(self.scripts.account(keys=lua_keys, args=[job.id, status, row, fail_field, fail_doc]))
        if done and job.result_key and status == "succeeded":
            try:  # the mirror is the result now; the per-job copy would only be an orphan
                self.blobs.delete(job.result_key)
            except Exception:
                pass
        return done


def batch_hook(settings: Settings, store: JobStore, celery: Any = None) -> Callable[[Job], None]:
    """The runner's finished hook: account the item, then nudge a planner to refill the window."""
    acct = Accountant(settings, store)

    def hook(job: Job) -> None:
        if not job.batch_id:
            return
        try:
            acct.finish(job)
        finally:
            pipe = store.r.pipeline(transaction=False)
            pipe.lpush(WAKE, job.batch_id)
            pipe.ltrim(WAKE, 0, 999)
            pipe.execute()

    return hook

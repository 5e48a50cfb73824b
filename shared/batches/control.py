"""Reading and steering a batch from the API: its view, cancel, retry of failed items."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from shared.batches.lua import Scripts
from shared.batches.model import ACTIVE, FINAL_BATCH, PAGE_COUNTERS, WAKE, Batch, bkey, join_key
from shared.infra import stats
from shared.infra.redis_client import as_str
from shared.jobs.model import iso_ms, now_ms
from shared.jobs.store import JobStore


# ------------------------------------------------------------------------------------ read models
def batch_view(r: redis.Redis, b: Batch) -> dict[str, Any]:
    """The batch as the API shows it (BatchOut): counts, progress and pace, where it reads and writes."""
    counts = _counts(r, b)
    done = counts["succeeded"] + counts["failed"] + counts["skipped"] + counts["canceled"]
    total = int(b.raw["total"]) if b.raw.get("total") else None
    if total is None and b.listing_done:  # a prefix's size is known once its listing has ended
        total = counts["planned"]
    finished = int(b.raw["finished_at"]) if b.raw.get("finished_at") else None
    rate, average, eta = _pace(b, done, total, finished)
    return {
        "id": b.id,
        "status": b.status,
        "task": b.spec.task,
        "params": b.spec.params(),
        "source": {
            "bucket": b.src_bucket,
            **({"manifest": b.manifest_key} if b.manifest_key else {"prefix": b.src_prefix}),
            **({"glob": b.glob} if b.glob else {}),
        },
        "output": {
            "bucket": b.out_bucket,
            "prefix": b.out_prefix,
            "ledger": join_key(b.out_prefix, f"_ledger/{b.id}/"),
            "formats": list(b.output_formats),
        },
        "window": b.window,
        "counts": counts,
        "done": done,
        "total": total,
        "listing_done": b.listing_done,
        "throughput_items_per_s": rate,
        "average_items_per_s": average,
        "eta_s": eta,
        "created_at": iso_ms(int(b.raw["created_at"]) if b.raw.get("created_at") else None),
        "finished_at": iso_ms(finished),
        "webhook_url": b.webhook_url or None,
        "links": {"self": f"/v1/batches/{b.id}", "failures": f"/v1/batches/{b.id}/failures"},
    }


def _counts(r: redis.Redis, b: Batch) -> dict[str, int]:
    """Items per state, and pages. The batch counts what it planned and accounted; queued and
    running are read from the in-flight items' jobs, which alone know which have started."""
    inflight = [as_str(j) for j in r.hkeys(bkey(b.id, "inflight"))]
    queued = running = 0
    if inflight:
        pipe = r.pipeline(transaction=False)
        for j in inflight:
            pipe.hget(JobStore.key(j), "status")
        for st in pipe.execute():
            s = json.loads(st) if st else None
            if s == "running":
                running += 1
            elif s == "queued":
                queued += 1
    counts = {"planned": b.n("planned"), "queued": queued, "running": running, "succeeded": b.n("succeeded"),
              "failed": b.n("failed"), "skipped": b.n("skipped"), "canceled": b.n("canceled")}
    # Pages beside items: a PDF/TIFF item counts its pages, an image one. pages_total grows as items
    # are planned; pages_done/pages_failed as their jobs are accounted (pages_skipped: done before).
    counts.update({k: b.n(k) for k in PAGE_COUNTERS})
    return counts


def _pace(b: Batch, done: int, total: int | None, finished: int | None) -> tuple[float, float, float | None]:
    """(throughput, average items/s, eta_s). While the batch runs the throughput is the recent rate
    the accounting keeps (workers/batch_close.py), steadier than the average when items finish in
    bursts; once it has finished, both are the average over the whole run."""
    started = int(b.raw.get("started_at") or 0)
    elapsed = max(0.001, ((finished or now_ms()) - started) / 1000)
    rate = float(b.raw.get("rate") or 0) if not finished else done / elapsed
    eta = None
    if total is not None and b.status == "running":
        eta = round((total - done) / rate, 1) if rate > 0 else None
    return round(rate, 3), round(done / elapsed, 3), eta


def cancel_batch(r: redis.Redis, store: JobStore, b: Batch) -> None:
    if b.status in FINAL_BATCH:
        return
    r.hset(bkey(b.id), "status", "canceled")
    for j in r.hkeys(bkey(b.id, "inflight")):
        if store.cancel(as_str(j)).applied:  # queued ones stop here; running ones finish and are accounted
            stats.record_finished(r, "canceled", None)
    r.sadd(ACTIVE, b.id)
    r.lpush(WAKE, b.id)


def retry_failed(r: redis.Redis, b: Batch, limit: int = 100_000) -> int:
    scripts = Scripts(r)
    fkey = bkey(b.id, "failures")
    n, cursor = 0, 0
    for _ in range(10_000):
        cursor, chunk = cast("tuple[int, dict[bytes, bytes]]", r.hscan(fkey, cursor, count=500))
        fields = [as_str(k) for k, v in chunk.items() if json.loads(v).get("retryable", True)]
        if fields:
            n += int(scripts.retry(keys=[bkey(b.id), fkey, bkey(b.id, "retry")], args=fields))
        if cursor == 0 or n >= limit:
            break
    if n:
        r.sadd(ACTIVE, b.id)
        r.lpush(WAKE, b.id)
    return n

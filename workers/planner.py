"""The batch planner loop: keeps each active batch's window full (see shared/batches/)."""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis

from shared.batches.accounting import Accountant, emit_item_event, failure_json, ledger_row
from shared.batches.control import batch_view
from shared.batches.dedup import Transient, classify
from shared.batches.lua import Scripts
from shared.batches.model import (
    ACTIVE,
    LEDGER_SHARD_ROWS,
    LOCK_MS,
    SWEEP_GRACE_MS,
    WAKE,
    Batch,
    bkey,
    bulk_engine,
    ledger_key,
)
from shared.batches.sources import Item, Source
from shared.infra.blobs import BlobNotFound, BlobStore, BlobStoreError
from shared.infra.redis_client import as_str
from shared.infra.settings import Settings
from shared.jobs.model import Job, now_ms
from shared.jobs.store import JobStore

log = logging.getLogger("ocrq.backfill")

Send = Callable[[str, str], None]  # (job_id, queue)


# -------------------------------------------------------------------------------------- the planner
class Planner:
    """Keeps each active batch's window full, sweeps what hooks missed, writes ledger shards.

    Any number of planners may run (a thread in each webhook worker, or `ocrq planner`); a short
    per-batch lock and the cursor compare-and-set keep them from planning an item twice.
    """

    def __init__(self, settings: Settings, r: redis.Redis, blobs: BlobStore, send: Send,
                 name: str | None = None) -> None:
        self.settings, self.r, self.blobs, self.send = settings, r, blobs, send
        self.store = JobStore(r, settings.retention_s)
        self.scripts = Scripts(r)
        self.acct = Accountant(settings, self.store, blobs)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._sources: dict[str, tuple[str, Iterator[tuple[str, Item | None]], Source]] = {}
        self._last_sweep: dict[str, float] = {}
        self._rr = 0

    def engine(self) -> tuple[str, str | None]:
        return bulk_engine(self.r, self.settings.engine)

    # one pass over every active batch, starting at a rotating offset (round-robin refill)
    def tick_all(self) -> int:
        ids = sorted(as_str(x) for x in self.r.smembers(ACTIVE))
        if not ids:
            return 0
        self._rr = (self._rr + 1) % len(ids)
        work = 0
        for bid in ids[self._rr:] + ids[: self._rr]:
            try:
                work += self.tick(bid)
            except Exception:
                log.exception("planner tick failed for %s", bid)
        return work

    def tick(self, batch_id: str) -> int:
        lock, token = bkey(batch_id, "lock"), self.name
        if not self.r.set(lock, token, nx=True, px=LOCK_MS):
            holder = as_str(self.r.get(lock))
            # A planner on this host that was killed leaves its lock: take it over at once.
            from workers.leases import owner_is_dead

            if not owner_is_dead(holder.rsplit(":", 1)[0]) or not self.scripts.release(keys=[lock], args=[holder]):
                return 0
            if not self.r.set(lock, token, nx=True, px=LOCK_MS):
                return 0
        try:
            return self._tick(batch_id)
        finally:
            self.scripts.release(keys=[lock], args=[token])

    def _tick(self, batch_id: str) -> int:
        b = Batch.load(self.r, batch_id)
        if b is None or b.status == "completed":
            self.r.srem(ACTIVE, batch_id)
            self._sources.pop(batch_id, None)
            return 0
        self._sweep(b)
        work = 0
        engine = self.engine()
        # No worker has said which engine it runs yet: planning now would queue items that a
        # rerun could never recognise as done, so wait (nothing would run them anyway).
        if b.status == "running" and engine[1] is not None:
            try:
                work += self._fill(b, engine)
            except Transient as err:
                log.warning("batch %s: storage unavailable, retrying: %s", b.id, err)
                self._sources.pop(b.id, None)
        b = Batch.load(self.r, batch_id) or b
        self._update_rate(b)
        self._flush_ledger(b, final=False)
        self._maybe_complete(b)
        return work

    def _fill(self, b: Batch, engine: tuple[str, str | None]) -> int:
        inflight = self.r.hlen(bkey(b.id, "inflight"))
        room = min(b.window - inflight, self.settings.tenant_batch_window - self._tenant_inflight(b.tenant))
        work = 0
        rnd = b.n("round")
        # retried failures first: they were planned once already
        while room > 0:
            raw = self.r.lindex(bkey(b.id, "retry"), 0)
            if raw is None:
                break
            retried = Item.from_json(raw)
            self._plan(b, retried, engine, rnd, expected="\0", new_cursor="", count=False, pop_retry=True)
            room -= 1
            work += 1
        if b.listing_done:
            return work
        cursor = b.cursor
        cached = self._sources.get(b.id)
        if cached is None or cached[0] != cursor:
            src = cached[2] if cached else Source(self.blobs, b)
            it = src.items(cursor)
        else:
            src, it = cached[2], cached[1]
        self._sources.pop(b.id, None)
        stored = cursor  # what Redis holds; filtered keys only move our local cursor
        budget = 10_000  # entries looked at per tick (glob-filtered ones included), so a tick ends
        try:
            while room > 0 and budget > 0:
                budget -= 1
                try:
                    nxt, item = next(it)
                except StopIteration:
                    self._advance_cursor(b, stored, cursor)
                    self.r.hset(bkey(b.id), mapping={"listing_done": "1"})
                    return work
                except (BlobStoreError, BlobNotFound) as err:
                    raise Transient(str(err)) from err
                if item is None:
                    cursor = nxt
                    continue
                res = self._plan(b, item, engine, rnd, expected=stored, new_cursor=nxt, count=True, pop_retry=False)
                if res == 0:  # another planner moved the cursor: start over from Redis next tick
                    return work
                cursor = stored = nxt
                work += 1
                if res == 1 and self._last_kind == "queue":
                    room -= 1
                if res == -1:
                    return work
            if stored != cursor:
                if self._advance_cursor(b, stored, cursor):
                    stored = cursor
            self._sources[b.id] = (stored, it, src)
        except Transient:
            raise
        return work

    def _tenant_inflight(self, tenant: str) -> int:
        ids = [as_str(x) for x in self.r.smembers(ACTIVE)]
        pipe = self.r.pipeline(transaction=False)
        for bid in ids:
            pipe.hget(bkey(bid), "tenant")
            pipe.hlen(bkey(bid, "inflight"))
        res = pipe.execute()
        return sum(int(n) for t, n in zip(res[::2], res[1::2], strict=True) if as_str(t) == tenant)

    def _advance_cursor(self, b: Batch, expected: str, new: str) -> bool:
        if expected == new:
            return True
        lua_keys = [bkey(b.id, part) for part in ("", "inflight", "failures", "ledger", "retry")]
        return bool(self.scripts.advance(keys=lua_keys, args=[expected, new, "cursor", "", "", "", "", "", "0", "0"]))

    _last_kind = ""

    def _plan(
        self,
        b: Batch,
        item: Item,
        engine: tuple[str, str | None],
        rnd: int,
        *,
        expected: str,
        new_cursor: str,
        count: bool,
        pop_retry: bool,
    ) -> int:
        v = classify(self.blobs, self.settings, b, item, engine, write_mirror=True)
        lua_keys = [
            bkey(b.id),
            bkey(b.id, "inflight"),
            bkey(b.id, "failures"),
            bkey(b.id, "ledger"),
            bkey(b.id, "retry"),
        ]
        flags = ["1" if count else "0", "1" if pop_retry else "0"]
        self._last_kind = {"run": "queue", "skip": "skip", "fail": "fail"}[v.kind]
        item.pages = v.pages if v.kind != "fail" else None  # what it counts in the batch's page counters
        if v.kind == "skip":
            row = ledger_row(b, item, "skipped", sha256=v.sha256)
            advanced = int(
                self.scripts.advance(
                    keys=lua_keys, args=[expected, new_cursor, "skip", "", "", row, "", "", *flags, v.pages]
                )
            )
            if advanced == 1:
                emit_item_event(self.acct.outbox, b, item, row)
            return advanced
        if v.kind == "fail":
            err = {"code": v.code, "message": v.message}
            row = ledger_row(b, item, "failed", sha256=v.sha256, error=err)
            advanced = int(
                self.scripts.advance(
                    keys=lua_keys,
                    args=[
                        expected,
                        new_cursor,
                        "fail",
                        "",
                        "",
                        row,
                        item.id,
                        failure_json(item, v.code, v.message, v.sha256),
                        *flags,
                        0,
                    ],
                )
            )
            if advanced == 1:
                emit_item_event(self.acct.outbox, b, item, row)
            return advanced
        assert v.input is not None
        job_id = b.job_id(item.id, rnd)
        job = self.store.get(job_id)
        if job is None:
            job = Job(
                id=job_id,
                tenant=b.tenant,
                spec=b.spec,
                priority="bulk",
                input=v.input,
                metadata=item.metadata or {},
                batch_id=b.id,
                # a PDF / multi-page TIFF: one job over all its pages, as a document upload makes
                pages_total=v.pages_total,
                pages=list(range(1, v.pages_total + 1)) if v.pages_total else None,
            )
            self.store.create(job)  # on the 'unsent' list until mark_sent: the reaper covers a crash here
        res = int(
            self.scripts.advance(
                keys=lua_keys,
                args=[expected, new_cursor, "queue", job_id, item.to_json(), "", "", "", *flags, v.pages],
            )
        )
        if res == 1:
            if not job.terminal:
                self.send(job_id, "bulk")
            self.store.mark_sent(job_id)
        elif res == -1:  # canceled meanwhile
            self.store.cancel(job_id)
            self.store.delete(job)
        return res

    def _sweep(self, b: Batch) -> None:
        """Account finished jobs whose hook never ran (worker died between finishing and the hook)."""
        now = time.monotonic()
        if now - self._last_sweep.get(b.id, 0) < 2.0:
            return
        self._last_sweep[b.id] = now
        ids = [as_str(j) for j in self.r.hkeys(bkey(b.id, "inflight"))]
        if not ids:
            return
        pipe = self.r.pipeline(transaction=False)
        for j in ids:
            pipe.hmget(JobStore.key(j), ["status", "finished_at"])
        cutoff = now_ms() - SWEEP_GRACE_MS
        for j, (status, finished) in zip(ids, pipe.execute(), strict=True):
            if status is None:
                item = self.r.hget(bkey(b.id, "inflight"), j)
                if item is None:
                    continue
                it = Item.from_json(item)
                pages = it.pages or 1
                row = ledger_row(b, it, "failed", error={"code": "job_lost", "message": "the job record disappeared"})
                lua_keys = [
                    bkey(b.id),
                    bkey(b.id, "inflight"),
                    bkey(b.id, "failures"),
                    bkey(b.id, "ledger"),
                    JobStore.key(j),
                    JobStore.tenant_index(b.tenant),
                    JobStore.RUNNING,
                    JobStore.UNSENT,
                    JobStore.QUEUED,
                    JobStore.EXPIRING,
                ]
                accounted = self.scripts.account(
                    keys=lua_keys,
                    args=[
                        j,
                        "failed",
                        row,
                        it.id,
                        failure_json(it, "job_lost", "the job record disappeared", pages=pages, pages_failed=pages),
                        0,
                        pages,
                    ],
                )
                if accounted:
                    emit_item_event(self.acct.outbox, b, it, row)
                continue
            st = json.loads(status)
            fin = json.loads(finished) if finished else None
            if st in ("succeeded", "failed", "canceled") and (fin or 0) <= cutoff:
                job = self.store.get(j)
                if job is not None:
                    try:
                        self.acct.finish(job)
                    except BlobStoreError as err:
                        log.warning("sweep of %s deferred: %s", j, err)

    def _update_rate(self, b: Batch) -> None:
        now = now_ms()
        ts = int(b.raw.get("rate_ts") or now)
        if now - ts < 2000:
            return
        done = sum(b.n(k) for k in ("succeeded", "failed", "skipped", "canceled"))
        items, secs = rate_window(float(b.raw.get("rate_items") or 0), float(b.raw.get("rate_secs") or 0),
                                  done - b.n("rate_done"), (now - ts) / 1000)
        self.r.hset(bkey(b.id), mapping={"rate": f"{items / secs:.4f}", "rate_items": f"{items:.4f}",
                                         "rate_secs": f"{secs:.4f}", "rate_ts": str(now), "rate_done": str(done)})

    def _flush_ledger(self, b: Batch, *, final: bool) -> None:
        lkey = bkey(b.id, "ledger")
        for _ in range(100):  # bounded per tick
            n = self.r.llen(lkey)
            if n == 0 or (n < LEDGER_SHARD_ROWS and not final):
                return
            take = min(n, LEDGER_SHARD_ROWS)
            seq = int(self.r.hget(bkey(b.id), "ledger_seq") or 0)
            rows = [as_str(x) for x in self.r.lrange(lkey, 0, take - 1)]
            self.blobs.put(
                ledger_key(b.out_prefix, b.id, seq),
                ("\n".join(rows) + "\n").encode(),
                "application/x-ndjson",
                bucket=b.out_bucket,
            )
            if not self.scripts.ledger_trim(keys=[bkey(b.id), lkey], args=[str(seq), str(take)]):
                return

    def _maybe_complete(self, b: Batch) -> None:
        if b.status not in ("running", "canceled"):
            return
        if b.status == "running" and not b.listing_done:
            return
        if self.r.hlen(bkey(b.id, "inflight")) or (b.status == "running" and self.r.llen(bkey(b.id, "retry"))):
            return
        self._flush_ledger(b, final=True)
        final = "completed" if b.status == "running" else "canceled"
        if b.status == "canceled" and b.raw.get("finished_at"):
            self.r.srem(ACTIVE, b.id)
            return
        fields: dict[Any, str] = {"status": final, "finished_at": str(now_ms())}  # hset's key type, as elsewhere
        if b.status == "running" and not b.manifest_key:
            fields["total"] = str(b.n("planned"))
        if final == "completed":
            # The event goes into the outbox *before* the status flips: a planner that dies in
            # between completes the batch again on its next tick, and emitting is idempotent.
            self._emit_completed(b, fields)
        self.r.hset(bkey(b.id), mapping=fields)
        self.r.srem(ACTIVE, b.id)
        self._sources.pop(b.id, None)
        log.info("batch %s %s", b.id, final)

    def _emit_completed(self, b: Batch, final_fields: dict[Any, str]) -> None:
        """``batch.completed`` through the webhook outbox: to the tenant's subscribed endpoints and to
        the batch's own webhook_url (signed with the tenant's default secret, like a job's)."""
        from shared.webhooks.endpoints import JOB_TARGET
        from shared.webhooks.events import emit_batch_completed
        from shared.webhooks.outbox import Outbox

        try:
            fresh = Batch.load(self.r, b.id) or b
            fresh.raw.update(final_fields)
            fresh.status = final_fields["status"]
            outbox = Outbox(self.r, self.settings)
            finished = int(final_fields["finished_at"])
            msg_id, _ = emit_batch_completed(outbox, b.tenant, b.id, finished, batch_view(self.r, fresh))
            if b.webhook_url and not any(d.get("ep") == JOB_TARGET for d in outbox.deliveries_of(msg_id)):
                outbox.endpoints.ensure_default_secret(b.tenant)
                outbox.requeue(msg_id, JOB_TARGET, b.webhook_url)  # due now: the scheduler loop sends it
        except Exception:  # the batch still completes; the event can be replayed from the outbox API
            log.exception("batch.completed event for %s not written", b.id)

    # the loop -----------------------------------------------------------------------------
    def run(self, stop: threading.Event, interval_s: float = 1.0) -> None:
        while not stop.is_set():
            try:
                work = self.tick_all()
                if work:
                    continue  # more to plan: go again at once
                self.r.blpop([WAKE], timeout=max(1, int(interval_s)))
                self.r.delete(WAKE)
            except redis.RedisError as err:
                log.warning("planner: redis unavailable: %s", err)
                stop.wait(interval_s)


# ------------------------------------------------------------------------ the planner thread / CLI
_stop = threading.Event()
_thread: threading.Thread | None = None


def start_planner_thread(settings: Settings, send: Send) -> None:
    """The planner loop as a thread of its host process: the webhook worker (workers/webhook_worker.py)."""
    global _thread
    if _thread is not None or not settings.batch_planner:
        return
    from shared.infra.blobs import open_blob_store
    from shared.infra.redis_client import connect

    planner = Planner(settings, connect(settings.redis_url), open_blob_store(settings), send)
    _stop.clear()
    _thread = threading.Thread(target=planner.run, args=(_stop,), name="ocrq-planner", daemon=True)
    _thread.start()
    log.info("batch planner started")


def stop_planner_thread() -> None:
    global _thread
    _stop.set()
    _thread = None


RATE_TAU_S = 60.0  # the batch rate's memory: completions of the last minute or so count most


def rate_window(items: float, seconds: float, finished: int, elapsed_s: float,
                tau_s: float = RATE_TAU_S) -> tuple[float, float]:
    """The batch rate's sliding window, (items, seconds) both decayed by ``exp(-elapsed/tau)``:
    the rate is items / seconds, completions weighted by how recent they are.

    Completions come in bursts (a window of jobs ends together, then the next is queued): a rate
    from the last 2 s alone read 0.0 between bursts and the ETA swung from seconds to most of an
    hour. Decaying the time with the items keeps the first minutes honest too (no burst read as
    the rate of the whole run), and a batch that truly stops still decays towards 0.
    """
    keep = math.exp(-max(0.0, elapsed_s) / tau_s)
    return keep * items + finished, keep * seconds + max(0.0, elapsed_s)

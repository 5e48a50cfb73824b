"""The batch planner loop: keeps each active batch's window full (see shared/batches/).

Per tick and batch: sweep what the hooks missed (workers/batch_sweep.py), plan retried failures
and then newly listed items up to the window (workers/plan_item.py plans each one), then update
the rate, write ledger shards and end the batch when it is done (workers/batch_close.py).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator

import redis

from shared.batches.accounting import Accountant
from shared.batches.dedup import Transient
from shared.batches.lua import Scripts
from shared.batches.model import ACTIVE, LOCK_MS, WAKE, Batch, bkey, bulk_engine
from shared.batches.sources import Item, Source
from shared.infra.blobs import BlobNotFound, BlobStore, BlobStoreError
from shared.infra.redis_client import as_str
from shared.infra.settings import Settings
from shared.jobs.store import JobStore
from workers.batch_close import BatchCloser
from workers.batch_sweep import sweep
from workers.plan_item import ItemPlanner, Send

log = logging.getLogger("ocrq.backfill")

LISTING_BUDGET = 10_000  # entries looked at per tick (glob-filtered ones included), so a tick ends


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
        self.items = ItemPlanner(settings, self.store, self.scripts, blobs, self.acct.outbox, send)
        self.closer = BatchCloser(settings, r, self.scripts, blobs)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # A batch's listing, kept between ticks while the cursor in Redis is still where it left it:
        # (that cursor, the listing iterator, its Source).
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
        self.closer.update_rate(b)
        self.closer.flush_ledger(b, final=False)
        if self.closer.maybe_complete(b):
            self._sources.pop(b.id, None)
        return work

    def _sweep(self, b: Batch) -> None:
        """At most every 2 s per batch: the sweep reads every in-flight job's record."""
        now = time.monotonic()
        if now - self._last_sweep.get(b.id, 0) < 2.0:
            return
        self._last_sweep[b.id] = now
        sweep(self.r, self.store, self.scripts, self.acct, b)

    # filling the window --------------------------------------------------------------------
    def _fill(self, b: Batch, engine: tuple[str, str | None]) -> int:
        inflight = self.r.hlen(bkey(b.id, "inflight"))
        room = min(b.window - inflight, self.settings.tenant_batch_window - self._tenant_inflight(b.tenant))
        rnd = b.n("round")
        # retried failures first: they were planned once already
        work = self._plan_retries(b, engine, rnd, room)
        if b.listing_done:
            return work
        return work + self._plan_listing(b, engine, rnd, room - work)

    def _plan_retries(self, b: Batch, engine: tuple[str, str | None], rnd: int, room: int) -> int:
        work = 0
        while work < room:
            raw = self.r.lindex(bkey(b.id, "retry"), 0)
            if raw is None:
                break
            retried = Item.from_json(raw)
            self.items.plan(b, retried, engine, rnd, expected="\0", new_cursor="", count=False, pop_retry=True)
            work += 1
        return work

    def _plan_listing(self, b: Batch, engine: tuple[str, str | None], rnd: int, room: int) -> int:
        """Plan newly listed items from the batch's cursor until the window is full or the budget spent.

        Only queued items take room in the window; skipped and failed ones move the cursor alone."""
        src, it = self._listing(b)
        cursor = stored = b.cursor  # stored: what Redis holds; filtered keys only move our local cursor
        work = 0
        budget = LISTING_BUDGET
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
            planned = self.items.plan(b, item, engine, rnd, expected=stored, new_cursor=nxt, count=True,
                                      pop_retry=False)
            if planned.advanced == 0:  # another planner moved the cursor: start over from Redis next tick
                return work
            cursor = stored = nxt
            work += 1
            if planned.advanced == 1 and planned.kind == "queue":
                room -= 1
            if planned.advanced == -1:
                return work
        if stored != cursor and self._advance_cursor(b, stored, cursor):
            stored = cursor
        self._sources[b.id] = (stored, it, src)
        return work

    def _listing(self, b: Batch) -> tuple[Source, Iterator[tuple[str, Item | None]]]:
        """The listing from the batch's cursor: the one kept from the last tick if Redis still
        agrees where it stands, else a new one. Taken out of the cache: only a tick that ends
        cleanly puts it back."""
        cached = self._sources.pop(b.id, None)
        if cached is not None and cached[0] == b.cursor:
            return cached[2], cached[1]
        src = cached[2] if cached else Source(self.blobs, b)
        return src, src.items(b.cursor)

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
    from shared.infra.redis_client import connect
    from shared.infra.storage import open_blob_store

    planner = Planner(settings, connect(settings.redis_url), open_blob_store(settings), send)
    _stop.clear()
    _thread = threading.Thread(target=planner.run, args=(_stop,), name="ocrq-planner", daemon=True)
    _thread.start()
    log.info("batch planner started")


def stop_planner_thread() -> None:
    global _thread
    _stop.set()
    _thread = None

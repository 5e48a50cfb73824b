"""What the planner does for a batch after planning, every tick: its rate, its ledger shards, its end.

- the rate (items per second, for the ETA) over a decaying window, ``rate_window``;
- ledger rows go out to the output bucket in shards of LEDGER_SHARD_ROWS (the rest at the end);
- a batch whose listing is done and whose in-flight set and retry list are empty completes (or
  ends canceled), and ``batch.completed`` goes to the webhook outbox.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import redis

from shared.batches.control import batch_view
from shared.batches.lua import Scripts
from shared.batches.model import ACTIVE, LEDGER_SHARD_ROWS, Batch, bkey, ledger_key
from shared.infra.blobs import BlobStore
from shared.infra.redis_client import as_str
from shared.infra.settings import Settings
from shared.jobs.model import now_ms

log = logging.getLogger("ocrq.backfill")  # the planner's logger

RATE_TAU_S = 60.0  # the batch rate's memory: completions of the last minute or so count most


class BatchCloser:
    def __init__(self, settings: Settings, r: redis.Redis, scripts: Scripts, blobs: BlobStore) -> None:
        self.settings, self.r, self.scripts, self.blobs = settings, r, scripts, blobs

    def update_rate(self, b: Batch) -> None:
        """Fold the items finished since the last update (at most every 2 s) into the batch's rate."""
        now = now_ms()
        ts = int(b.raw.get("rate_ts") or now)
        if now - ts < 2000:
            return
        done = sum(b.n(k) for k in ("succeeded", "failed", "skipped", "canceled"))
        items, secs = rate_window(float(b.raw.get("rate_items") or 0), float(b.raw.get("rate_secs") or 0),
                                  done - b.n("rate_done"), (now - ts) / 1000)
        self.r.hset(bkey(b.id), mapping={"rate": f"{items / secs:.4f}", "rate_items": f"{items:.4f}",
                                         "rate_secs": f"{secs:.4f}", "rate_ts": str(now), "rate_done": str(done)})

    def flush_ledger(self, b: Batch, *, final: bool) -> None:
        """Write full ledger shards (``final``: every row left) and trim what was written."""
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

    def maybe_complete(self, b: Batch) -> bool:
        """End the batch once nothing is left to plan or wait for; True when this call ended it."""
        if b.status not in ("running", "canceled"):
            return False
        if b.status == "running" and not b.listing_done:
            return False
        if self.r.hlen(bkey(b.id, "inflight")) or (b.status == "running" and self.r.llen(bkey(b.id, "retry"))):
            return False
        self.flush_ledger(b, final=True)
        final = "completed" if b.status == "running" else "canceled"
        if b.status == "canceled" and b.raw.get("finished_at"):
            self.r.srem(ACTIVE, b.id)
            return False
        fields: dict[Any, str] = {"status": final, "finished_at": str(now_ms())}  # hset's key type, as elsewhere
        if b.status == "running" and not b.manifest_key:
            fields["total"] = str(b.n("planned"))
        if final == "completed":
            # The event goes into the outbox *before* the status flips: a planner that dies in
            # between completes the batch again on its next tick, and emitting is idempotent.
            self._emit_completed(b, fields)
        self.r.hset(bkey(b.id), mapping=fields)
        self.r.srem(ACTIVE, b.id)
        log.info("batch %s %s", b.id, final)
        return True

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

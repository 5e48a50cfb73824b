"""The review block in Redis: every change one compare-and-set (Lua) on the job hash's ``review`` field.

The script compares the field's exact stored text with what the caller read (absent: ""), checks the
job is still ``succeeded``, writes the new block (and any other job fields given), and keeps the
tenant's review indexes in the same step:

  tenant:<t>:reviews          zset, every job that had a review, by the ms it opened (oldest first)
  tenant:<t>:reviews:pending  zset, the open or claimed ones (what a queue shows)

Two reviewers who read the same block race on one script: one applies, the other's compare fails and it
reads again (and then finds the claim taken). Nothing is read-modify-written outside the script.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import redis

from shared.infra import keyspace
from shared.infra.redis_client import as_str
from shared.jobs.model import Job, Status, now_ms
from shared.jobs.store import JobStore
from shared.reviews.model import effective_state

# KEYS[1] job hash, KEYS[2] tenant reviews zset, KEYS[3] tenant pending zset
# ARGV[1] expected raw review field ("" = absent), ARGV[2] new raw field, ARGV[3] job id,
# ARGV[4] index op: "open" (add to both at ARGV[5]), "resolve" (leave pending), "" (none), ARGV[5] score,
# ARGV[6..] more job field/value pairs (JSON-encoded values).
# Returns 1 applied, 0 the block changed, -1 no such job, -2 the job is not succeeded.
_REVIEW_CAS = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return -1 end
if st ~= '"succeeded"' then return -2 end
local cur = redis.call('HGET', KEYS[1], 'review')
if ARGV[1] == '' then
  if cur and cur ~= 'null' then return 0 end
elseif cur ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'review', ARGV[2])
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[4] == 'open' then
  redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
elseif ARGV[4] == 'resolve' then
  redis.call('ZREM', KEYS[3], ARGV[3])
end
return 1
"""

APPLIED, CHANGED, MISSING, NOT_SUCCEEDED = 1, 0, -1, -2


@dataclass(frozen=True)
class Page:
    items: list[Job]
    next_cursor: str | None
    counts: dict[str, int]


class ReviewStore:
    def __init__(self, client: redis.Redis, jobs: JobStore) -> None:
        self.r = client
        self.jobs = jobs
        self._cas = client.register_script(_REVIEW_CAS)

    def raw(self, job_id: str) -> str:
        raw = self.r.hget(keyspace.job(job_id), "review")
        text = as_str(raw) if raw is not None else ""
        return "" if text == "null" else text

    def cas(self, job: Job, expected_raw: str, block: dict[str, Any], *, index: str = "",
            score: int = 0, fields: dict[str, Any] | None = None) -> int:
        argv: list[Any] = [expected_raw, json.dumps(block, separators=(",", ":")), job.id, index, str(score)]
        for k, v in (fields or {}).items():
            argv += [k, json.dumps(v)]
        return int(self._cas(keys=[keyspace.job(job.id), keyspace.tenant_reviews(job.tenant),
                                   keyspace.tenant_reviews_pending(job.tenant)], args=argv))

    # ------------------------------------------------------------ listing
    def list(self, tenant: str, *, state: str | None, reason: str | None, batch_id: str | None, limit: int,
             after: tuple[int, str] | None = None) -> Page:
        """Oldest first by the ms the review opened; the cursor is (opened ms, job id) of the last item.

        Open and claimed reviews come from the pending index, resolved ones from the full one; an expired
        claim counts as open. ``counts`` are the reviews in ``state`` by reason (before the reason filter)."""
        resolved_too = state in (None, "resolved")
        index = keyspace.tenant_reviews(tenant) if resolved_too else keyspace.tenant_reviews_pending(tenant)
        now = now_ms()
        items: list[Job] = []
        counts: Counter[str] = Counter()
        lo = "-inf"  # counts cover the whole state, not only what follows the cursor
        offset = 0
        more = False
        while True:
            chunk = cast("list[tuple[bytes, float]]",
                         self.r.zrangebyscore(index, lo, "+inf", start=offset, num=200, withscores=True))
            if not chunk:
                break
            offset += len(chunk)
            pipe = self.r.pipeline(transaction=False)
            for member, _ in chunk:
                pipe.hgetall(keyspace.job(as_str(member)))
            for (member, score), raw in zip(chunk, pipe.execute(), strict=True):
                jid = as_str(member)
                if not raw:
                    self.r.zrem(index, jid)  # expired or purged: drop it from the index
                    continue
                job = self.jobs.get(jid)
                if job is None or not job.review:
                    continue
                eff = effective_state(job.review, now)
                if state is not None and eff != state:
                    continue
                if batch_id is not None and job.batch_id != batch_id:
                    continue
                reasons = list(job.review.get("reasons") or [])
                counts.update(reasons)
                if after is not None and (int(score), jid) <= after:
                    continue
                if reason is not None and reason not in reasons:
                    continue
                if len(items) < limit:
                    items.append(job)
                else:
                    more = True
        nxt = None
        if more and items:
            last = items[-1]
            nxt = f"{int((last.review or {}).get('opened_at', 0))}:{last.id}"
        return Page(items, nxt, dict(sorted(counts.items())))

    def open_by_reason(self, tenants: Iterable[str]) -> dict[str, int]:
        """Open reviews (claimed ones with an expired lease included) by reason, across tenants: a gauge."""
        now = now_ms()
        out: Counter[str] = Counter()
        for t in tenants:
            for member in self.r.zrange(keyspace.tenant_reviews_pending(t), 0, -1):
                job = self.jobs.get(as_str(member))
                if job is None or not job.review or job.status != Status.succeeded:
                    continue
                if effective_state(job.review, now) == "open":
                    out.update(job.review.get("reasons") or [])
        return dict(out)

    def forget(self, job: Job) -> None:
        """Drop the job from the review indexes and its block from the record (expiry, purge)."""
        pipe = self.r.pipeline(transaction=False)
        pipe.zrem(keyspace.tenant_reviews(job.tenant), job.id)
        pipe.zrem(keyspace.tenant_reviews_pending(job.tenant), job.id)
        pipe.hdel(keyspace.job(job.id), "review")
        pipe.execute()

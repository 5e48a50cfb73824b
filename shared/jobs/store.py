"""Jobs in Redis: one hash per job, with every status change an atomic compare-and-set (Lua).

Keys (declared in shared/infra/keyspace.py):
  job:<id>              hash: one field per Job attribute, JSON-encoded values
  tenant:<t>:jobs       zset: job ids by creation time (listing, newest first: shared/jobs/listing.py)
  running               zset: running job ids by lease expiry (the reaper's work list)
  unsent                zset: created jobs whose queue message is not yet confirmed sent
  hooks_pending         zset: succeeded/failed jobs whose finished-hooks have not all run, by transition ms
  done:<id>             pub/sub channel: one message when the job reaches a final state
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis

from shared.infra import keyspace
from shared.infra.redis_client import as_str
from shared.jobs.model import TERMINAL, Job, JobError, Status, now_ms
from shared.jobs.pages import PAGES_OWNER

# KEYS[1] job hash, KEYS[2] running zset, KEYS[3] unsent zset, KEYS[4] queued zset, KEYS[5] hooks_pending zset
# ARGV[1] JSON list of allowed current statuses, ARGV[2] new status, ARGV[3] now ms,
# ARGV[4] "1" to add one attempt, "-1" to take one back (never below 0),
# ARGV[5] lease expiry ms ("" = leave running set),
# ARGV[6] expected worker ("" = any), ARGV[7] done channel, ARGV[8..] field/value pairs.
# Returns {1, status} when applied, {0, current status} when refused, {-1} when missing.
# A job that becomes succeeded or failed (a worker's transitions, followed by the runner's finished-hooks)
# is put on hooks_pending in the same script: replicated with it or lost with it, never one without the
# other, so a hook cut off after the transition is run again by the reaper. canceled is not: whoever
# cancels writes its event itself, and the planner's sweep accounts canceled batch items.
_TRANSITION = """
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {-1} end
cur = cjson.decode(cur)
local allowed = cjson.decode(ARGV[1])
local ok = false
for _, s in ipairs(allowed) do if s == cur then ok = true end end
if not ok then return {0, cur} end
if ARGV[6] ~= '' then
  local w = redis.call('HGET', KEYS[1], 'worker')
  if w ~= ARGV[6] then return {0, cur} end
end
local new = ARGV[2]
redis.call('HSET', KEYS[1], 'status', cjson.encode(new), 'updated_at', ARGV[3])
if ARGV[4] == '1' or ARGV[4] == '-1' then
  local a = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
  redis.call('HSET', KEYS[1], 'attempts', tostring(math.max(0, a + tonumber(ARGV[4]))))
end
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
local id = cjson.decode(redis.call('HGET', KEYS[1], 'id'))
if new == 'running' then
  redis.call('ZADD', KEYS[2], ARGV[5], id)
else
  redis.call('ZREM', KEYS[2], id)
end
redis.call('ZREM', KEYS[3], id)
if new == 'queued' then redis.call('ZADD', KEYS[4], ARGV[3], id) else redis.call('ZREM', KEYS[4], id) end
if new == 'succeeded' or new == 'failed' then redis.call('ZADD', KEYS[5], ARGV[3], id) end
if new == 'succeeded' or new == 'failed' or new == 'canceled' then
  redis.call('PUBLISH', ARGV[7], new)
end
return {1, new}
"""

# Extend a running job's lease only while this worker still owns it.
_HEARTBEAT = """
local cur = redis.call('HGET', KEYS[1], 'status')
if cur ~= '"running"' then return 0 end
if redis.call('HGET', KEYS[1], 'worker') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'lease_until', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


# KEYS[1] job hash; ARGV[1] JSON worker; ARGV[2..] field/value pairs, set only while that worker runs it.
_SET_RUNNING_FIELDS = """
if redis.call('HGET', KEYS[1], 'status') ~= '"running"' then return 0 end
if redis.call('HGET', KEYS[1], 'worker') ~= ARGV[1] then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


def _encode(job: Job) -> dict[Any, str]:
    data = job.model_dump(mode="json")
    return {k: json.dumps(v) for k, v in data.items()}


def decode_job(raw: dict[Any, Any]) -> Job:
    fields: dict[str, Any] = {}
    for k, v in raw.items():
        key = k.decode() if isinstance(k, bytes) else k
        fields[key] = json.loads(v)
    return Job.model_validate(fields)


def stored_traceparent(client: redis.Redis, job_id: str) -> str | None:
    """The job's stored W3C traceparent (tracing was on at submit), or None: one HGET, so a message
    sent outside any span (a re-send, a webhook delivery) continues the job's trace."""
    raw = client.hget(keyspace.job(job_id), "traceparent")
    value = json.loads(raw) if raw else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Transition:
    applied: bool
    status: Status | None  # the status now (None: no such job)


class JobStore:
    def __init__(self, client: redis.Redis, retention_s: int) -> None:
        self.r = client
        self.retention_s = retention_s
        self._transition = client.register_script(_TRANSITION)
        self._heartbeat = client.register_script(_HEARTBEAT)

    # keys
    key = staticmethod(keyspace.job)
    channel = staticmethod(keyspace.job_done_channel)
    tenant_index = staticmethod(keyspace.tenant_jobs)
    RUNNING = keyspace.JOBS_RUNNING
    UNSENT = keyspace.JOBS_UNSENT
    QUEUED = keyspace.JOBS_QUEUED
    EXPIRING = keyspace.JOBS_EXPIRING
    HOOKS_PENDING = keyspace.JOBS_HOOKS_PENDING

    def _ttl_s(self) -> int:
        # The record outlives its data by 30 days so that late polls get 410, not 404.
        return self.retention_s + 30 * 24 * 3600

    # create / read
    def create(self, job: Job) -> None:
        """Store a new queued job; it stays on the 'unsent' list until mark_sent()."""
        job.expires_at = job.created_at + self.retention_s * 1000
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(self.key(job.id), mapping=_encode(job))
        pipe.expire(self.key(job.id), self._ttl_s())
        pipe.zadd(self.tenant_index(job.tenant), {job.id: job.created_at})
        pipe.zadd(self.UNSENT, {job.id: job.created_at})
        pipe.zadd(self.QUEUED, {job.id: job.created_at})
        pipe.zadd(self.EXPIRING, {job.id: job.expires_at})
        if job.input.key.startswith(f"inputs/{job.tenant}/"):  # an upload ocrq stored: count its users
            pipe.incr(keyspace.input_refs(job.tenant, job.input.sha256))
        pipe.execute()

    def mark_sent(self, job_id: str) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.zrem(self.UNSENT, job_id)
        pipe.zadd(self.QUEUED, {job_id: now_ms()}, xx=True)  # only while it is still queued
        pipe.execute()

    def queued_unsent_since(self, before_ms: int, limit: int = 100) -> list[str]:
        """Queued jobs whose last message went out before ``before_ms`` (it may have been lost)."""
        return [as_str(m) for m in self.r.zrangebyscore(self.QUEUED, "-inf", before_ms, start=0, num=limit)]

    def expiring_before(self, now: int, limit: int = 100) -> list[str]:
        return [as_str(m) for m in self.r.zrangebyscore(self.EXPIRING, "-inf", now, start=0, num=limit)]

    def release_input(self, job: Job) -> bool:
        """One job fewer uses its uploaded input; True when it was the last (delete the blob)."""
        if not job.input.key.startswith(f"inputs/{job.tenant}/"):
            return False
        left = int(self.r.decr(keyspace.input_refs(job.tenant, job.input.sha256)))
        if left <= 0:
            self.r.delete(keyspace.input_refs(job.tenant, job.input.sha256))
        return left <= 0

    def get(self, job_id: str) -> Job | None:
        raw = self.r.hgetall(self.key(job_id))
        return decode_job(raw) if raw else None

    def get_for_tenant(self, job_id: str, tenant: str) -> Job | None:
        """A job only its own tenant may see; any other tenant gets None, exactly like a miss."""
        job = self.get(job_id)
        if job is None or job.tenant != tenant:
            return None
        return job

    def status(self, job_id: str) -> Status | None:
        raw = self.r.hget(self.key(job_id), "status")
        return Status(json.loads(raw)) if raw else None

    # transitions
    def _apply(
        self,
        job_id: str,
        allowed: Iterable[Status],
        new: Status,
        *,
        add_attempt: bool = False,
        refund_attempt: bool = False,
        lease_until: int | None = None,
        expect_worker: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> Transition:
        ts = now_ms()
        argv: list[Any] = [
            json.dumps([s.value for s in allowed]),
            new.value,
            str(ts),
            "1" if add_attempt else "-1" if refund_attempt else "0",
            str(lease_until or 0),
            json.dumps(expect_worker) if expect_worker else "",
            self.channel(job_id),
        ]
        for k, v in (fields or {}).items():
            argv += [k, json.dumps(v)]
        res = self._transition(keys=[self.key(job_id), self.RUNNING, self.UNSENT, self.QUEUED, self.HOOKS_PENDING],
                               args=argv)
        if res[0] == -1:
            return Transition(False, None)
        status = res[1].decode() if isinstance(res[1], bytes) else res[1]
        return Transition(res[0] == 1, Status(status))

    def claim(self, job_id: str, worker: str, lease_s: int) -> Transition:
        """queued → running (attempt + 1) for this worker, holding a lease it must renew."""
        lease = now_ms() + lease_s * 1000
        return self._apply(
            job_id,
            [Status.queued],
            Status.running,
            add_attempt=True,
            lease_until=lease,
            fields={"worker": worker, "lease_until": lease, "started_at": now_ms()},
        )

    def take_over(self, job_id: str, worker: str, lease_s: int, dead_worker: str) -> Transition:
        """running → running for a new worker, only if the recorded owner is still dead_worker."""
        lease = now_ms() + lease_s * 1000
        return self._apply(
            job_id,
            [Status.running],
            Status.running,
            add_attempt=True,
            lease_until=lease,
            expect_worker=dead_worker,
            fields={"worker": worker, "lease_until": lease, "started_at": now_ms()},
        )

    def heartbeat(self, job_id: str, worker: str, lease_s: int) -> bool:
        lease = now_ms() + lease_s * 1000
        return bool(
            self._heartbeat(
                keys=[self.key(job_id), self.RUNNING], args=[json.dumps(worker), str(lease), job_id]
            )
        )

    def succeed(
        self, job_id: str, worker: str, result_key: str, *, review_reasons: list[str] | None = None
    ) -> Transition:
        fields: dict[str, Any] = {"result_key": result_key, "finished_at": now_ms(), "lease_until": None}
        if review_reasons:
            fields |= {"needs_review": True, "review_reasons": review_reasons}
        return self._apply(job_id, [Status.running], Status.succeeded, expect_worker=worker, fields=fields)

    def fail(self, job_id: str, error: JobError, *, worker: str | None = None) -> Transition:
        """running → failed (by its worker), or queued/running → failed by the attempt cap."""
        return self._apply(
            job_id,
            [Status.running] if worker else [Status.queued, Status.running],
            Status.failed,
            expect_worker=worker,
            fields={"error": error.model_dump(), "finished_at": now_ms(), "lease_until": None},
        )

    def set_running_fields(self, job_id: str, worker: str, fields: dict[str, Any]) -> bool:
        """Plain HSET of non-status fields (a document's progress) while this worker runs the job.

        Not a transition: the status is only read. The check keeps a late worker from writing into
        a job someone else took over, and never recreates an expired or purged record."""
        argv: list[Any] = [json.dumps(worker)]
        for k, v in fields.items():
            argv += [k, json.dumps(v)]
        return bool(self.r.eval(_SET_RUNNING_FIELDS, 1, self.key(job_id), *argv))

    def release(
        self, job_id: str, worker: str, *, refund_attempt: bool = False, fields: dict[str, Any] | None = None
    ) -> Transition:
        """running → queued: give a job back (shutdown, transient error) for another attempt.

        refund_attempt takes back the attempt its claim counted, in the same CAS: the job was not
        tried (storage was down), so it must not come closer to the attempt cap."""
        return self._apply(
            job_id, [Status.running], Status.queued, expect_worker=worker, refund_attempt=refund_attempt,
            fields={"lease_until": None, **(fields or {})},
        )

    def cancel(self, job_id: str) -> Transition:
        """queued → canceled, or running → canceled for a document whose pages are out (held by
        PAGES_OWNER, no worker); a job a worker holds is not canceled."""
        t = self._apply(job_id, [Status.queued], Status.canceled, fields={"finished_at": now_ms()})
        if t.applied or t.status != Status.running:
            return t
        return self._apply(job_id, [Status.running], Status.canceled, expect_worker=PAGES_OWNER,
                           fields={"finished_at": now_ms(), "lease_until": None})

    def expired_leases(self, now: int, limit: int = 100) -> list[str]:
        return [as_str(m) for m in self.r.zrangebyscore(self.RUNNING, "-inf", now, start=0, num=limit)]

    def unsent_before(self, before_ms: int, limit: int = 100) -> list[str]:
        return [as_str(m) for m in self.r.zrangebyscore(self.UNSENT, "-inf", before_ms, start=0, num=limit)]

    # finished-hooks: the transition to succeeded/failed puts the job on hooks_pending
    def hooks_done(self, job_id: str) -> None:
        """Every finished-hook of the job ran: nothing left for the reaper's sweep."""
        self.r.zrem(self.HOOKS_PENDING, job_id)

    def hooks_pending_before(self, before_ms: int, limit: int = 100) -> list[str]:
        """Finished jobs whose hooks were not confirmed done by ``before_ms`` (pending since, or retried at)."""
        return [as_str(m) for m in self.r.zrangebyscore(self.HOOKS_PENDING, "-inf", before_ms, start=0,
                                                            num=limit)]

    def hooks_retry_at(self, job_id: str, at_ms: int) -> None:
        """Look at the job's hooks again at ``at_ms`` (only while it is still pending)."""
        self.r.zadd(self.HOOKS_PENDING, {job_id: at_ms}, xx=True)

    def delete(self, job: Job) -> None:
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self.key(job.id))
        pipe.zrem(self.tenant_index(job.tenant), job.id)
        pipe.zrem(self.RUNNING, job.id)
        pipe.zrem(self.UNSENT, job.id)
        pipe.zrem(self.QUEUED, job.id)
        pipe.zrem(self.EXPIRING, job.id)
        pipe.zrem(self.HOOKS_PENDING, job.id)
        pipe.execute()


def is_terminal(status: Status | None) -> bool:
    return status in TERMINAL
